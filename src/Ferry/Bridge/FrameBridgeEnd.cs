using Ferry.Bridge.Internal;

namespace Ferry.Bridge;

/// <summary>
/// What both bridge ends share: sending, receiving, readiness, counters and stopping. An end is two
/// stages (PUSH and PULL) with the <c>zmtp</c> framing; <see cref="FrameBridgeServer"/> binds them,
/// <see cref="FrameBridgeClient"/> dials them. Only those two derive from it; use it (or
/// <see cref="IFrameBridge"/>) to handle either end alike.
/// </summary>
/// <remarks>Members are safe to call from any thread, except that received frames are meant for one
/// reader (<see cref="ReadAllAsync"/> or <see cref="TryRead"/>, not both at once).</remarks>
public abstract class FrameBridgeEnd : IFrameBridge
{
    private readonly Lock _stopLock = new();
    private Task? _stopped;

    // Cancelled by any StopAsync caller's token: cuts the stages' grace period short. Never disposed: a caller's token may
    // fire at any time, and a source without a timer holds nothing to release.
    private readonly CancellationTokenSource _cutShort = new();

    private protected FrameBridgeEnd(string address, int port, BridgeEnd end)
    {
        Address = address;
        Port = port;
        End = end;
    }

    private protected BridgeEnd End { get; }

    /// <summary>The options the end was created with (what a host or a run file gave it, for tests and diagnostics).</summary>
    internal FrameBridgeOptions Options => End.Options;

    /// <summary>A stop has begun (<see cref="IsReady"/> is false from then on, whatever the peers): for a health check to say so.</summary>
    internal bool IsStopping => End.IsStopping;

    /// <summary>The stop has completed: connections closed, ports released.</summary>
    internal bool IsStopped => Volatile.Read(ref _stopped) is { IsCompleted: true };

    /// <summary>The address given to the constructor: where the server binds or the client dials.</summary>
    public string Address { get; }

    /// <summary>The base port: frames to the server travel on it, frames from the server on <c>Port + 1</c>.</summary>
    public int Port { get; }

    /// <inheritdoc/>
    public bool IsReady => End.IsReady;

    /// <inheritdoc/>
    public FrameBridgeCounters Counters => End.Counters;

    /// <inheritdoc/>
    public long PendingSendBytes => End.PendingSendBytes;

    /// <summary>
    /// Sends a frame to one connected peer (round-robin among several). Waits while no peer is
    /// connected or every peer's send buffer is full; completes once the payload has been copied into a
    /// connection's send buffer, so the caller may reuse its memory.
    /// </summary>
    /// <exception cref="TimeoutException">No peer took the frame within <see cref="FrameBridgeOptions.SendTimeout"/>.</exception>
    /// <exception cref="ArgumentException">The frame's payload is over <see cref="FrameBridgeOptions.MaxPayloadBytes"/> (thrown by the
    /// call itself, whether a peer is connected or not).</exception>
    /// <exception cref="ObjectDisposedException">The end was stopped.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled while waiting.</exception>
    public ValueTask SendAsync(Frame frame, CancellationToken cancellationToken = default) => End.SendAsync(frame, cancellationToken);

    /// <summary>
    /// The received frames, fair-queued from every peer, in each peer's order. Meant for one reader;
    /// the enumeration ends when the end is stopped. While frames are not read, up to
    /// <see cref="FrameBridgeOptions.ReceiveHighWaterMark"/> are buffered and then the PULL connections
    /// stop being read (back-pressure to the senders).
    /// </summary>
    public IAsyncEnumerable<Frame> ReadAllAsync(CancellationToken cancellationToken = default) => End.ReadAllAsync(cancellationToken);

    /// <inheritdoc/>
    public bool TryRead(out Frame frame) => End.TryRead(out frame);

    /// <summary>Runs a pipe from this end on its receiving thread (see <see cref="FrameFlow"/>).</summary>
    internal Task PipeInlineAsync(IFrameSink sink, CancellationToken cancellationToken) =>
        End.PipeInlineAsync(sink, borrowsPayloads: sink is FrameBridgeEnd, cancellationToken);

    /// <inheritdoc/>
    /// <exception cref="ObjectDisposedException">The end is stopped, or stops while waiting.</exception>
    public Task WaitReadyAsync(CancellationToken cancellationToken = default) => End.WaitReadyAsync(cancellationToken);

    /// <summary>
    /// Stops both stages, releases the ports and ends <see cref="ReadAllAsync"/>. Queued frames drain for up to
    /// <see cref="FrameBridgeOptions.StopGracePeriod"/>; cancelling <paramref name="cancellationToken"/> cuts that short: the
    /// peers' connections are closed at once and the returned task completes (it is not cancelled) once the ports are released.
    /// Idempotent: every call waits for the same stop, and any caller's token cuts it short.
    /// </summary>
    public Task StopAsync(CancellationToken cancellationToken = default)
    {
        Task stopped;
        lock (_stopLock)
            stopped = _stopped ??= StopCoreAsync();
        if (stopped.IsCompleted || !cancellationToken.CanBeCanceled)
            return stopped;
        return WaitStoppedAsync(stopped, cancellationToken);
    }

    private async Task WaitStoppedAsync(Task stopped, CancellationToken cancellationToken)
    {
        // Registered only while this caller waits: its token fired later (after the stop) does nothing. Cancel runs the
        // stages' own registrations, which only flag the forced stop and wake their threads, so it does not block here.
        using (cancellationToken.UnsafeRegister(static s => ((CancellationTokenSource)s!).Cancel(), _cutShort))
            await stopped.ConfigureAwait(false);
    }

    private async Task StopCoreAsync()
    {
        End.BeginStop();
        await StopStagesAsync(_cutShort.Token).ConfigureAwait(false);
        End.CompleteStop();
    }

    /// <summary>Stops the end's two stages (the token cuts their grace period short) and disposes them.</summary>
    private protected abstract Task StopStagesAsync(CancellationToken cancellationToken);

    /// <summary>Same as <see cref="StopAsync"/>.</summary>
    public ValueTask DisposeAsync() => new(StopAsync());
}
