namespace Ferry.Bridge;

/// <summary>One end of a Rogue-compatible frame bridge: frames go out with <see cref="SendAsync"/> and come in through <see cref="ReadAllAsync"/>.</summary>
public interface IFrameBridge : IAsyncDisposable
{
    /// <summary>True while both directions have a connected peer.</summary>
    bool IsReady { get; }

    FrameBridgeCounters Counters { get; }

    /// <summary>Frames accepted by <see cref="SendAsync"/> and not yet written to a socket (at most the send high-water mark).</summary>
    int PendingSendCount { get; }

    /// <summary>
    /// Queues a frame for the peer. Waits, as Rogue's blocking send does, while no peer is connected
    /// (ZMQ_IMMEDIATE) or the send queue is at its high-water mark; throws <see cref="TimeoutException"/>
    /// after <see cref="FrameBridgeOptions.SendTimeout"/> and <see cref="ObjectDisposedException"/> once stopped.
    /// Completion means queued, not delivered: the payload memory is handed over (see <see cref="Frame"/>).
    /// </summary>
    ValueTask SendAsync(Frame frame, CancellationToken cancellationToken = default);

    /// <summary>Received frames in arrival order; ends when the bridge stops. Meant for one reader.</summary>
    IAsyncEnumerable<Frame> ReadAllAsync(CancellationToken cancellationToken = default);

    /// <summary>Takes a received frame if one is waiting.</summary>
    bool TryRead(out Frame frame);

    /// <summary>Completes when both directions have a peer that finished the ZMTP handshake.</summary>
    Task WaitReadyAsync(CancellationToken cancellationToken = default);

    /// <summary>Closes both ports and every connection and waits for all the bridge's tasks.</summary>
    Task StopAsync();
}
