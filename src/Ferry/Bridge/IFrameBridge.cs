namespace Ferry.Bridge;

/// <summary>One end of a Rogue-compatible frame bridge: frames go out with <see cref="SendAsync"/> and come in through <see cref="ReadAllAsync"/>.</summary>
public interface IFrameBridge : IAsyncDisposable
{
    /// <summary>True while both directions have a connected peer.</summary>
    bool IsReady { get; }

    FrameBridgeCounters Counters { get; }

    /// <summary>Bytes of encoded frames queued on PUSH connections and not yet taken by the kernel
    /// (at most <see cref="FrameBridgeOptions.SendBufferBytes"/> per peer, or one larger frame).</summary>
    long PendingSendBytes { get; }

    /// <summary>
    /// Sends a frame to a peer (round-robin when several are connected, as ZeroMQ PUSH does). Waits, as
    /// Rogue's blocking send does, while no peer is connected (ZMQ_IMMEDIATE) or every peer's send
    /// buffer is full; throws <see cref="TimeoutException"/> after <see cref="FrameBridgeOptions.SendTimeout"/>
    /// and <see cref="ObjectDisposedException"/> once stopped. Completion means the frame is in a peer
    /// connection's send buffer: the payload has been copied and the caller may reuse its memory.
    /// </summary>
    ValueTask SendAsync(Frame frame, CancellationToken cancellationToken = default);

    /// <summary>Received frames in arrival order; ends when the bridge stops. Meant for one reader.</summary>
    IAsyncEnumerable<Frame> ReadAllAsync(CancellationToken cancellationToken = default);

    /// <summary>Takes a received frame if one is waiting.</summary>
    bool TryRead(out Frame frame);

    /// <summary>Completes when both directions have a peer that finished the ZMTP handshake.</summary>
    Task WaitReadyAsync(CancellationToken cancellationToken = default);

    /// <summary>Closes both ports and every connection and waits for the bridge's threads to end.</summary>
    Task StopAsync();
}
