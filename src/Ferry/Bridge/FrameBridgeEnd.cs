using Ferry.Bridge.Internal;

namespace Ferry.Bridge;

/// <summary>
/// What both bridge ends share: sending, receiving, readiness, counters and stopping. An end is two
/// stages (PUSH and PULL) with the <c>zmtp</c> framing; <see cref="FrameBridgeServer"/> binds them,
/// <see cref="FrameBridgeClient"/> dials them.
/// </summary>
public abstract class FrameBridgeEnd : IFrameBridge
{
    private readonly Lock _stopLock = new();
    private Task? _stopped;

    private protected FrameBridgeEnd(string address, int port, BridgeEnd end)
    {
        Address = address;
        Port = port;
        End = end;
    }

    private protected BridgeEnd End { get; }

    public string Address { get; }

    /// <summary>The base port: frames to the server travel on it, frames from the server on <c>Port + 1</c>.</summary>
    public int Port { get; }

    public bool IsReady => End.IsReady;

    public FrameBridgeCounters Counters => End.Counters;

    public long PendingSendBytes => End.PendingSendBytes;

    /// <inheritdoc cref="IFrameBridge"/>
    public ValueTask SendAsync(Frame frame, CancellationToken cancellationToken = default) => End.SendAsync(frame, cancellationToken);

    public IAsyncEnumerable<Frame> ReadAllAsync(CancellationToken cancellationToken = default) => End.ReadAllAsync(cancellationToken);

    public bool TryRead(out Frame frame) => End.TryRead(out frame);

    public Task WaitReadyAsync(CancellationToken cancellationToken = default) => End.WaitReadyAsync(cancellationToken);

    /// <summary>Stops both stages (queued frames drain for up to <see cref="FrameBridgeOptions.StopGracePeriod"/>), releases the ports and ends <see cref="ReadAllAsync"/>. Idempotent.</summary>
    public Task StopAsync()
    {
        lock (_stopLock)
            return _stopped ??= StopCoreAsync();
    }

    private async Task StopCoreAsync()
    {
        End.BeginStop();
        await StopStagesAsync().ConfigureAwait(false);
        End.CompleteStop();
    }

    /// <summary>Stops and disposes the end's two stages.</summary>
    private protected abstract Task StopStagesAsync();

    public ValueTask DisposeAsync() => new(StopAsync());
}
