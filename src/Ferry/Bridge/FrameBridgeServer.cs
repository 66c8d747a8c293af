using System.Net;
using Ferry.Bridge.Internal;
using Ferry.Bridge.Zmtp;
using Ferry.Bus;
using Ferry.Framing;
using Ferry.Stages;

namespace Ferry.Bridge;

/// <summary>
/// The listening end of the bridge, Rogue's <c>TcpServer</c>: a PULL socket bound on the base port
/// (frames from clients) and a PUSH socket bound on port + 1 (frames to clients), each a
/// <see cref="TcpServerStage"/> speaking the <c>zmtp</c> framing. Binds in the constructor and throws
/// when it cannot, as Rogue's does. Several clients may connect: incoming frames are fair-queued and
/// each outgoing frame goes to one ready client, round-robin, as ZeroMQ PUSH does.
/// </summary>
public sealed class FrameBridgeServer : IFrameBridge
{
    private readonly BridgeEnd _end;
    private readonly TcpServerStage _pull;
    private readonly TcpServerStage _push;
    private readonly Lock _stopLock = new();
    private Task? _stopped;

    /// <exception cref="InvalidOperationException">A port could not be bound (the message says which and why).</exception>
    public FrameBridgeServer(string address, int port, FrameBridgeOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(address);
        BridgeAddress.ValidatePort(port);
        options ??= new FrameBridgeOptions();
        options.Validate();
        var ip = BridgeAddress.ResolveForBind(address);
        var category = $"Ferry.Bridge.{address}.Server.{port}";
        var loggers = new CategoryLoggerFactory(options.LoggerFactory, category);
        _end = new BridgeEnd(options, loggers.CreateLogger(category));
        Address = address;
        Port = port;

        var bus = new InProcessBus();
        _pull = new TcpServerStage(StageOptions("PULL", BridgeAddress.HostPort(ip, port), ZmtpSocketType.Pull), bus, loggers);
        _push = new TcpServerStage(StageOptions("PUSH", BridgeAddress.HostPort(ip, port + 1), ZmtpSocketType.Push), bus, loggers);
        _end.Attach(_push.Core, _pull.Core, bus, _pull.Name);
        Bind(_pull, port);
        Bind(_push, port + 1);
    }

    private TcpServerStageOptions StageOptions(string name, string bind, ZmtpSocketType role) => new()
    {
        Name = name,
        Bind = bind,
        Backlog = 128,
        MaxConnections = _end.Options.MaxPeersPerPort,
        Framing = FramingSpec.Parse(_end.FramingSpec(role)),
        EgressBufferBytes = _end.Options.SendBufferBytes,
        // One stage-wide read buffer (not per connection): large enough that a 64 KiB frame usually
        // arrives in one receive instead of being gathered in a pending buffer.
        ReadBufferBytes = 256 * 1024,
        EgressOverflow = EgressOverflowPolicy.Wait,
        BindAttempts = 1,
        StopGracePeriod = _end.Options.StopGracePeriod,
    };

    /// <summary>Starts a stage and waits for its one bind attempt; on failure nothing is left running.</summary>
    private void Bind(TcpServerStage stage, int port)
    {
        try
        {
            // The stage's thread binds; waiting here cannot deadlock (no context is captured).
            stage.StartAsync().GetAwaiter().GetResult();
        }
        catch (IOException e)
        {
            _end.BeginStop();
            Task.WhenAll(_pull.DisposeAsync().AsTask(), _push.DisposeAsync().AsTask()).GetAwaiter().GetResult();
            _end.CompleteStop();
            throw new InvalidOperationException(
                $"Failed to bind the bridge to port {port} at address {Address}, another process may be using this port: {e.Message}", e);
        }
    }

    public string Address { get; }

    /// <summary>The base port: PULL listens here, PUSH on <c>Port + 1</c>.</summary>
    public int Port { get; }

    public bool IsReady => _end.IsReady;

    public FrameBridgeCounters Counters => _end.Counters;

    public long PendingSendBytes => _end.PendingSendBytes;

    /// <summary>The stage behind the PULL port (frames in): its connections, statistics and events.</summary>
    public TcpServerStage PullStage => _pull;

    /// <summary>The stage behind the PUSH port (frames out).</summary>
    public TcpServerStage PushStage => _push;

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
        await Task.WhenAll(_pull.DisposeAsync().AsTask(), _push.DisposeAsync().AsTask()).ConfigureAwait(false);
        _end.CompleteStop();
    }

    public ValueTask DisposeAsync() => new(StopAsync());
}
