using Ferry.Bridge.Internal;
using Ferry.Bridge.Zmtp;
using Ferry.Bus;
using Ferry.Framing;
using Ferry.Stages;

namespace Ferry.Bridge;

/// <summary>
/// The dialling end of the bridge, Rogue's <c>TcpClient</c>: a PUSH connection to the server's base
/// port and a PULL connection to port + 1, each a <see cref="TcpClientStage"/> speaking the <c>zmtp</c>
/// framing. It may start before the server; each direction dials and re-dials on its own with a
/// capped, doubling back-off, so a restarted server is found again.
/// </summary>
public sealed class FrameBridgeClient : IFrameBridge
{
    private readonly BridgeEnd _end;
    private readonly TcpClientStage _push;
    private readonly TcpClientStage _pull;
    private readonly Lock _stopLock = new();
    private Task? _stopped;

    public FrameBridgeClient(string address, int port, FrameBridgeOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(address);
        BridgeAddress.ValidatePort(port);
        options ??= new FrameBridgeOptions();
        options.Validate();
        var category = $"Ferry.Bridge.{address}.Client.{port}";
        var loggers = new CategoryLoggerFactory(options.LoggerFactory, category);
        _end = new BridgeEnd(options, loggers.CreateLogger(category));
        Address = address;
        Port = port;

        var bus = new InProcessBus();
        _push = new TcpClientStage(StageOptions("PUSH", BridgeAddress.HostPort(address, port), ZmtpSocketType.Push), bus, loggers);
        _pull = new TcpClientStage(StageOptions("PULL", BridgeAddress.HostPort(address, port + 1), ZmtpSocketType.Pull), bus, loggers);
        _end.Attach(_push.Core, _pull.Core, bus, _pull.Name);
        _push.Start();
        _pull.Start();
    }

    private TcpClientStageOptions StageOptions(string name, string connect, ZmtpSocketType role) => new()
    {
        Name = name,
        Connect = connect,
        Framing = FramingSpec.Parse(_end.FramingSpec(role)),
        EgressBufferBytes = _end.Options.SendBufferBytes,
        // One stage-wide read buffer (not per connection): large enough that a 64 KiB frame usually
        // arrives in one receive instead of being gathered in a pending buffer.
        ReadBufferBytes = 256 * 1024,
        EgressOverflow = EgressOverflowPolicy.Wait,
        // The bridge itself waits for a peer (ZMQ_IMMEDIATE); the stage never holds frames for later.
        EgressWhileDisconnected = DisconnectedEgressPolicy.Drop,
        ReconnectWait = _end.Options.ReconnectDelay,
        ReconnectMaxWait = _end.Options.MaxReconnectDelay,
        // libzmq retries soon after a working connection ends and backs off only while the server is away.
        HealthyAfter = _end.Options.ReconnectDelay,
        StopGracePeriod = _end.Options.StopGracePeriod,
    };

    public string Address { get; }

    /// <summary>The server's base port: PUSH dials it, PULL dials <c>Port + 1</c>.</summary>
    public int Port { get; }

    public bool IsReady => _end.IsReady;

    public FrameBridgeCounters Counters => _end.Counters;

    public long PendingSendBytes => _end.PendingSendBytes;

    /// <summary>The stage behind the PUSH connection (frames out).</summary>
    public TcpClientStage PushStage => _push;

    /// <summary>The stage behind the PULL connection (frames in).</summary>
    public TcpClientStage PullStage => _pull;

    public ValueTask SendAsync(Frame frame, CancellationToken cancellationToken = default) => _end.SendAsync(frame, cancellationToken);

    public IAsyncEnumerable<Frame> ReadAllAsync(CancellationToken cancellationToken = default) => _end.ReadAllAsync(cancellationToken);

    public bool TryRead(out Frame frame) => _end.TryRead(out frame);

    public Task WaitReadyAsync(CancellationToken cancellationToken = default) => _end.WaitReadyAsync(cancellationToken);

    public Task StopAsync()
    {
        lock (_stopLock)
            return _stopped ??= StopCoreAsync();
    }

    private async Task StopCoreAsync()
    {
        _end.BeginStop();
        await Task.WhenAll(_push.DisposeAsync().AsTask(), _pull.DisposeAsync().AsTask()).ConfigureAwait(false);
        _end.CompleteStop();
    }

    public ValueTask DisposeAsync() => new(StopAsync());
}
