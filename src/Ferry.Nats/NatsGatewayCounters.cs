namespace Ferry.Nats;

/// <summary>
/// What a <see cref="NatsGateway"/> has done since it started: a snapshot, also published once a second on
/// the stats subject. Every message that did not go where it was sent is in one of these counts.
/// </summary>
public sealed record NatsGatewayCounters
{
    /// <summary>Packets published to the ingress subject (acknowledged by the stream in JetStream mode).</summary>
    public long IngressPackets { get; init; }

    /// <summary>NATS messages published to the ingress subject (packets, or packet groups).</summary>
    public long IngressMessages { get; init; }

    /// <summary>Payload bytes published to the ingress subject.</summary>
    public long IngressBytes { get; init; }

    /// <summary>Packets lost: core NATS refused the publish or found no room in its buffer within the publish timeout, or (JetStream) the gateway was disposed while they waited for the window.</summary>
    public long IngressDropped { get; init; }

    /// <summary>JetStream: publishes sent again after a timeout or an error (possible duplicates, never losses).</summary>
    public long IngressRetries { get; init; }

    /// <summary>JetStream: publishes now waiting for their acknowledgement.</summary>
    public int IngressInFlight { get; init; }

    /// <summary>Egress NATS messages taken from NATS.</summary>
    public long EgressReceived { get; init; }

    /// <summary>Egress messages written to at least one connection's egress buffer.</summary>
    public long EgressDelivered { get; init; }

    /// <summary>Egress for a connection of another gateway instance (a worker used the shared subject): ignored.</summary>
    public long EgressForeign { get; init; }

    /// <summary>Egress for a connection that is gone, or a group nobody is in: acknowledged and dropped.</summary>
    public long EgressNoTarget { get; init; }

    /// <summary>Egress the stage's overflow policy dropped (the connection's egress buffer was full).</summary>
    public long EgressOverflow { get; init; }

    /// <summary>Egress with invalid headers (a bad <c>conn.id</c>, <c>target</c> or field), or whose routing threw what the gateway
    /// does not anticipate (logged at error level; JetStream: each failed delivery), reported on the events subject.</summary>
    public long EgressRejected { get; init; }

    /// <summary>Control commands carried out.</summary>
    public long ControlApplied { get; init; }

    /// <summary>Control commands that were invalid, named an unknown connection, or whose handling threw (logged at error level).</summary>
    public long ControlRejected { get; init; }

    /// <summary>Control commands for a connection of another gateway instance: ignored.</summary>
    public long ControlForeign { get; init; }

    /// <summary>Events and stats that could not be published (core NATS, at most once).</summary>
    public long EventsDropped { get; init; }

    /// <summary>Messages the NATS client dropped because a subscription's queue was full.</summary>
    public long ClientDropped { get; init; }

    /// <summary>Times the connection to NATS was lost.</summary>
    public long Disconnects { get; init; }

    /// <summary>True while connected to NATS once <see cref="NatsGateway.StartAsync"/> has completed (false during the start, and
    /// for good when it failed, and from the moment <see cref="NatsGateway.DisposeAsync"/> begins); false for good once one of the gateway's subscription loops ended while it runs
    /// (said at once at error level): what that loop carried is no longer handled until a restart.</summary>
    public bool Connected { get; init; }
}
