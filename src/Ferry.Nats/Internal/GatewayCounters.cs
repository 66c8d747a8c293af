namespace Ferry.Nats.Internal;

/// <summary>The gateway's running totals, updated from several threads; <see cref="Snapshot"/> reads them.</summary>
internal sealed class GatewayCounters
{
    public long IngressPackets, IngressMessages, IngressBytes, IngressDropped, IngressRetries;
    public int IngressInFlight;
    public long EgressReceived, EgressDelivered, EgressForeign, EgressNoTarget, EgressOverflow, EgressRejected;
    public long ControlApplied, ControlRejected, ControlForeign;
    public long EventsDropped, ClientDropped, Disconnects;
    public volatile bool Connected;
    /// <summary>
    /// The gateway's start has completed (its streams, consumers and subscriptions are there): <c>connected</c> is false
    /// before, and for good when the start failed. It used to follow the client's connection alone, so a probe during
    /// the start, or of a gateway whose start had failed, read connected while nothing was routed.
    /// </summary>
    public volatile bool Running;
    /// <summary>One of the gateway's loops ended while it runs (<see cref="LoopWatch"/>): <c>connected</c> is false from then on.</summary>
    public volatile bool Broken;

    public void Count(EgressOutcome outcome)
    {
        switch (outcome)
        {
            case EgressOutcome.Delivered: Interlocked.Increment(ref EgressDelivered); break;
            case EgressOutcome.Foreign: Interlocked.Increment(ref EgressForeign); break;
            case EgressOutcome.NoTarget: Interlocked.Increment(ref EgressNoTarget); break;
            case EgressOutcome.Overflow: Interlocked.Increment(ref EgressOverflow); break;
            default: Interlocked.Increment(ref EgressRejected); break;
        }
    }

    public NatsGatewayCounters Snapshot() => new()
    {
        IngressPackets = Interlocked.Read(ref IngressPackets),
        IngressMessages = Interlocked.Read(ref IngressMessages),
        IngressBytes = Interlocked.Read(ref IngressBytes),
        IngressDropped = Interlocked.Read(ref IngressDropped),
        IngressRetries = Interlocked.Read(ref IngressRetries),
        IngressInFlight = Volatile.Read(ref IngressInFlight),
        EgressReceived = Interlocked.Read(ref EgressReceived),
        EgressDelivered = Interlocked.Read(ref EgressDelivered),
        EgressForeign = Interlocked.Read(ref EgressForeign),
        EgressNoTarget = Interlocked.Read(ref EgressNoTarget),
        EgressOverflow = Interlocked.Read(ref EgressOverflow),
        EgressRejected = Interlocked.Read(ref EgressRejected),
        ControlApplied = Interlocked.Read(ref ControlApplied),
        ControlRejected = Interlocked.Read(ref ControlRejected),
        ControlForeign = Interlocked.Read(ref ControlForeign),
        EventsDropped = Interlocked.Read(ref EventsDropped),
        ClientDropped = Interlocked.Read(ref ClientDropped),
        Disconnects = Interlocked.Read(ref Disconnects),
        Connected = Connected && Running && !Broken,
    };
}
