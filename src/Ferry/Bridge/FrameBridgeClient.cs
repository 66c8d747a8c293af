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
/// capped, doubling back-off, so a restarted server is found again. While a direction cannot connect
/// (refused, unreachable, a name that does not resolve), its first failure is logged as a warning naming
/// the address and the reason; the retries are not, until it has been connected again.
/// </summary>
public sealed class FrameBridgeClient : FrameBridgeEnd
{
    private readonly TcpClientStage _push;
    private readonly TcpClientStage _pull;

    /// <summary>Creates the client end and starts dialling both ports in the background; it returns at once
    /// without waiting for the server (use <see cref="FrameBridgeEnd.WaitReadyAsync"/> for that).</summary>
    /// <param name="address">The server's host name or IP address; names are resolved at every attempt.</param>
    /// <param name="port">The server's base port, 1..65534: frames go out on it and come in on <c>port + 1</c>.</param>
    /// <param name="options">Buffering, timeouts and logging; the defaults when null.</param>
    /// <exception cref="ArgumentNullException"><paramref name="address"/> is null.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="port"/> is out of range, or an option is invalid.</exception>
    public FrameBridgeClient(string address, int port, FrameBridgeOptions? options = null)
        : base(address, port, BridgeEnd.Create(address, port, options, "Client"))
    {
        var loggers = End.Loggers;
        var bus = new InProcessBus();
        _push = new TcpClientStage(StageOptions("PUSH", BridgeAddress.HostPort(address, port), ZmtpSocketType.Push), bus, loggers, End.Options.TimeProvider);
        _pull = new TcpClientStage(StageOptions("PULL", BridgeAddress.HostPort(address, port + 1), ZmtpSocketType.Pull), bus, loggers, End.Options.TimeProvider);
        _pull.Core.Events.ReportSlowHandlers = _push.Core.Events.ReportSlowHandlers = End.Options.ReportSlowHandlers;
        End.Attach(_push, _pull, bus);
        _push.ConnectFailed += (_, e) => End.DialFailed(ZmtpSocketType.Push, e);
        _pull.ConnectFailed += (_, e) => End.DialFailed(ZmtpSocketType.Pull, e);
        _push.Start();
        _pull.Start();
    }

    private TcpClientStageOptions StageOptions(string name, string connect, ZmtpSocketType role) => new()
    {
        Name = name,
        Connect = connect,
        Framing = FramingSpec.Parse(End.FramingSpec(role)),
        EgressBufferBytes = End.Options.SendBufferBytes,
        // One stage-wide read buffer (not per connection): large enough that a 64 KiB frame usually
        // arrives in one receive instead of being gathered in a pending buffer.
        ReadBufferBytes = BridgeEnd.ReadBufferBytes,
        MaxPendingBytes = End.PartialFrameBudget,
        FrameTimeout = End.Options.FrameTimeout,
        // A round's frames are delivered together (published at the end of the round, no linger), so an
        // inline pipe's sends of one round are gathered into one write per peer.
        GroupSize = BridgeEnd.ReceiveBatchFrames,
        GroupLinger = TimeSpan.Zero,
        EgressOverflow = EgressOverflowPolicy.Wait,
        // The bridge itself waits for a peer (ZMQ_IMMEDIATE); the stage never holds frames for later.
        EgressWhileDisconnected = DisconnectedEgressPolicy.Drop,
        ReconnectWait = End.Options.ReconnectDelay,
        // Zero: no back-off, as libzmq's default.
        ReconnectMaxWait = End.Options.MaxReconnectDelay == TimeSpan.Zero ? End.Options.ReconnectDelay : End.Options.MaxReconnectDelay,
        // libzmq retries soon after a working connection ends and backs off only while the server is away.
        HealthyAfter = End.Options.ReconnectDelay,
        StopGracePeriod = End.Options.StopGracePeriod,
        Transport = End.Options.Transport,
    };

    /// <summary>The stage behind the PUSH connection (frames out).</summary>
    public TcpClientStage PushStage => _push;

    /// <summary>The stage behind the PULL connection (frames in).</summary>
    public TcpClientStage PullStage => _pull;

    private protected override async Task StopStagesAsync(CancellationToken cancellationToken)
    {
        // Stopped with the token (which cuts their drain short), then disposed: by then they have ended, so disposing
        // (which would stop with the full grace period) only releases what is left.
        await Task.WhenAll(_push.StopAsync(cancellationToken), _pull.StopAsync(cancellationToken)).ConfigureAwait(false);
        await Task.WhenAll(_push.DisposeAsync().AsTask(), _pull.DisposeAsync().AsTask()).ConfigureAwait(false);
    }
}
