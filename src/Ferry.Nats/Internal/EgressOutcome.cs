namespace Ferry.Nats.Internal;

/// <summary>What became of one egress NATS message.</summary>
internal enum EgressOutcome
{
    /// <summary>Written to at least one connection's egress buffer.</summary>
    Delivered,
    /// <summary>For a connection of another gateway instance.</summary>
    Foreign,
    /// <summary>No such connection (gone), or nobody in the group or on the stage.</summary>
    NoTarget,
    /// <summary>The connection is there but its egress buffer was full (the stage's overflow policy dropped it).</summary>
    Overflow,
    /// <summary>Invalid headers.</summary>
    Rejected,
    /// <summary>Routing it threw what the gateway does not anticipate (counted with <see cref="Rejected"/>).</summary>
    Failed,
}
