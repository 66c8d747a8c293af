using Ferry.Framing;

namespace Ferry.Stages;

/// <summary>
/// The documented internal surface a frame bridge end uses on its PUSH stage, whichever side dials:
/// "any one" egress without holding for absent peers (the bridge waits for a peer itself, as ZeroMQ's
/// ZMQ_IMMEDIATE does), how much egress is still queued, and the lifecycle events the end tracks its peers by.
/// </summary>
internal interface IAnyEgressStage
{
    /// <summary>The stage's name (its topics' namespace).</summary>
    string Name { get; }

    /// <summary>A connection is ready for messages.</summary>
    event EventHandler<ConnectedEvent>? Connected;

    /// <summary>A connection ended.</summary>
    event EventHandler<DisconnectedEvent>? Disconnected;

    /// <summary>Something went wrong; the stage goes on.</summary>
    event EventHandler<StageErrorEvent>? Error;

    /// <summary>Hands the message to the next established connection with room, without waiting; false when none took it.</summary>
    bool TrySendToAnyNow(ReadOnlySpan<byte> payload, in FrameFields fields);

    /// <summary>Like <see cref="TrySendToAnyNow"/>, but waits up to <paramref name="timeout"/> (or forever) while every connection is full; false when no connection is established.</summary>
    ValueTask<bool> SendToAnyAsync(ReadOnlyMemory<byte> payload, FrameFields fields, TimeSpan timeout, CancellationToken cancellationToken);

    /// <summary>Bytes queued on the stage's connections and not yet taken by the kernel.</summary>
    long QueuedEgressBytes { get; }
}
