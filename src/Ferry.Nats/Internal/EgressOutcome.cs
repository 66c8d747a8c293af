namespace Ferry.Nats.Internal;

/// <summary>What became of one egress NATS message.</summary>
internal enum EgressOutcome
{
    /// <summary>Written to at least one connection's egress buffer.</summary>
    Delivered,
    /// <summary>For a connection of another gateway instance.</summary>
    Foreign,
    /// <summary>No such open connection (unknown, closing or closed, also before the gateway has handled its disconnected event;
    /// or still in its handshake), or nobody in the group or on the stage. JetStream: acknowledged, never sent again.</summary>
    NoTarget,
    /// <summary>The connection was there but the stage's overflow policy dropped the message (its egress buffer full, the wait for
    /// room timed out, or the client closed as a slow consumer for it). JetStream: not acknowledged, sent again after the ack wait.</summary>
    Overflow,
    /// <summary>Invalid headers.</summary>
    Rejected,
    /// <summary>Routing it threw what the gateway does not anticipate (counted with <see cref="Rejected"/>).</summary>
    Failed,
}
