namespace Ferry.Bridge;

/// <summary>
/// One end of a Rogue-compatible frame bridge: a sink frames go out through and a source received
/// frames come in through (one reader; the enumeration ends when the bridge stops).
/// </summary>
/// <remarks>
/// <see cref="IFrameSink.SendAsync"/> sends a frame to a peer (round-robin when several are connected,
/// as ZeroMQ PUSH does). It waits, as Rogue's blocking send does, while no peer is connected
/// (ZMQ_IMMEDIATE) or every peer's send buffer is full; it throws <see cref="TimeoutException"/> after
/// <see cref="FrameBridgeOptions.SendTimeout"/>, <see cref="ObjectDisposedException"/> once stopped, and
/// <see cref="ArgumentException"/> at once for a payload over <see cref="FrameBridgeOptions.MaxPayloadBytes"/>.
/// Completion means the frame is in a peer connection's send buffer: the payload has been copied and
/// the caller may reuse its memory.
/// </remarks>
public interface IFrameBridge : IFrameSource, IFrameSink, IAsyncDisposable
{
    /// <summary>True while both directions have a connected peer, until a stop begins (from then on sends fail, and this is false
    /// while the peers' connections drain and close).</summary>
    bool IsReady { get; }

    /// <summary>Frames and bytes sent and received, dropped messages and handshakes, since the end was created.</summary>
    FrameBridgeCounters Counters { get; }

    /// <summary>Bytes of encoded frames queued on PUSH connections and not yet taken by the kernel
    /// (at most <see cref="FrameBridgeOptions.SendBufferBytes"/> per peer, or one larger frame).</summary>
    long PendingSendBytes { get; }

    /// <summary>Takes a received frame if one is waiting; false at once otherwise (it never waits).</summary>
    bool TryRead(out Frame frame);

    /// <summary>Completes when both directions have a peer that finished the ZMTP handshake.</summary>
    Task WaitReadyAsync(CancellationToken cancellationToken = default);

    /// <summary>
    /// Closes both ports and every connection and waits for the bridge's threads to end. Queued frames drain for up to
    /// <see cref="FrameBridgeOptions.StopGracePeriod"/>; cancelling <paramref name="cancellationToken"/> cuts the drain short
    /// (connections closed at once) and the returned task still completes, not cancelled, once the ports are released.
    /// </summary>
    Task StopAsync(CancellationToken cancellationToken = default);
}
