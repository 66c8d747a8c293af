namespace Ferry.Stages;

/// <summary>
/// What one round of handing a message to any one connection found (the stage's "any one" route). In this namespace, not
/// the stages' internal one, because a frame bridge end reads it through <see cref="IAnyEgressStage"/>.
/// </summary>
internal enum AnyOutcome
{
    Queued,
    /// <summary>No established connection: nothing was queued.</summary>
    NoPeer,
    /// <summary>Every established connection's egress is full (wait policy).</summary>
    AllFull,
}
