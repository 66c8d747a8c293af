using System.Net;
using System.Net.Sockets;
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
public sealed class FrameBridgeServer : FrameBridgeEnd
{
    private readonly TcpServerStage _pull;
    private readonly TcpServerStage _push;

    /// <summary>Binds both ports and starts serving; when this returns, clients can connect.</summary>
    /// <param name="address">The local address to bind: an IP address, a host name (its first address is
    /// used), or <c>*</c> / <c>0.0.0.0</c> for every IPv4 interface.</param>
    /// <param name="port">The base port, 1..65534: frames come in on it and go out on <c>port + 1</c>.</param>
    /// <param name="options">Buffering, timeouts, peer limit and logging; the defaults when null.</param>
    /// <exception cref="ArgumentNullException"><paramref name="address"/> is null.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="port"/> is out of range, or an option is invalid.</exception>
    /// <exception cref="ArgumentException"><paramref name="address"/> is a host name that resolves to no address.</exception>
    /// <exception cref="InvalidOperationException">A port could not be bound (the message says which and why).</exception>
    public FrameBridgeServer(string address, int port, FrameBridgeOptions? options = null)
        : base(address, port, BridgeEnd.Create(address, port, options, "Server"))
    {
        IPAddress ip;
        try
        {
            ip = BridgeAddress.ResolveForBind(address);
        }
        catch (SocketException e)
        {
            // The documented error for a name that resolves to nothing; the resolver's own exception (HostNotFound, "Name or
            // service not known") named neither the address nor what it was for. (ferry bridge resolves first and says it its way.)
            throw new ArgumentException($"cannot resolve '{address}' to an address to bind the bridge to: {e.Message}", nameof(address), e);
        }
        var loggers = End.Loggers;
        var bus = new InProcessBus();
        _pull = new TcpServerStage(StageOptions("PULL", BridgeAddress.HostPort(ip, port), ZmtpSocketType.Pull), bus, loggers, End.Options.TimeProvider);
        _push = new TcpServerStage(StageOptions("PUSH", BridgeAddress.HostPort(ip, port + 1), ZmtpSocketType.Push), bus, loggers, End.Options.TimeProvider);
        _pull.Core.Events.ReportSlowHandlers = _push.Core.Events.ReportSlowHandlers = End.Options.ReportSlowHandlers;
        End.Attach(_push, _pull, bus);
        Bind(_pull, port);
        Bind(_push, port + 1);
    }

    private TcpServerStageOptions StageOptions(string name, string bind, ZmtpSocketType role) => new()
    {
        Name = name,
        Bind = bind,
        Backlog = 128,
        MaxConnections = End.Options.MaxPeersPerPort,
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
        BindAttempts = 1,
        StopGracePeriod = End.Options.StopGracePeriod,
        Transport = End.Options.Transport,
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
            End.BeginStop();
            StopStagesAsync(CancellationToken.None).GetAwaiter().GetResult();
            End.CompleteStop();
            // Rogue's words when the port is taken; the cause, when it is something else (an address that is not this machine's,
            // a privileged port), instead of sending the operator after another process that does not exist.
            var why = e.InnerException is SocketException { SocketErrorCode: var code } && code != SocketError.AddressAlreadyInUse
                ? Ferry.Transport.BindFailureWords.Why(code, Address)
                : "another process may be using this port";
            throw new InvalidOperationException($"Failed to bind the bridge to port {port} at address {Address}, {why}: {e.Message}", e);
        }
    }

    /// <summary>The stage behind the PULL port (frames in): its connections, statistics and events.</summary>
    public TcpServerStage PullStage => _pull;

    /// <summary>The stage behind the PUSH port (frames out).</summary>
    public TcpServerStage PushStage => _push;

    private protected override async Task StopStagesAsync(CancellationToken cancellationToken)
    {
        // Stopped with the token (which cuts their drain short), then disposed: by then they have ended, so disposing
        // (which would stop with the full grace period) only releases what is left.
        await Task.WhenAll(_push.StopAsync(cancellationToken), _pull.StopAsync(cancellationToken)).ConfigureAwait(false);
        await Task.WhenAll(_push.DisposeAsync().AsTask(), _pull.DisposeAsync().AsTask()).ConfigureAwait(false);
    }
}
