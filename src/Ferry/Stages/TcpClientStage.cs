using System.Net;
using Ferry.Bus;
using Ferry.Connections;
using Ferry.Framing;
using Ferry.Stages.Internal;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Ferry.Stages;

/// <summary>
/// A TCP client stage, the mirror of <see cref="TcpServerStage"/>: dials <c>connect</c>, stays
/// connected (reconnecting with exponential back-off and jitter), publishes what the remote sends on
/// <c>&lt;name&gt;/packet_group</c> and sends what arrives on <c>&lt;name&gt;/egress_packets</c>.
/// Egress while disconnected is held (bounded) or dropped. <c>&lt;name&gt;/control</c> close forces a reconnect.
/// </summary>
public sealed class TcpClientStage : IAsyncDisposable
{
    private readonly ClientCore _core;
    private int _started;

    public TcpClientStage(TcpClientStageOptions options, IMessageBus? bus = null, ILoggerFactory? loggerFactory = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        Options = options;
        Bus = bus ?? new InProcessBus();
        var logger = (loggerFactory ?? NullLoggerFactory.Instance).CreateLogger("Ferry.Stages.TcpClient." + options.Name);
        _core = new ClientCore(this, options, Bus, logger);
    }

    public TcpClientStageOptions Options { get; }

    public IMessageBus Bus { get; }

    public string Name => Options.Name;

    /// <summary>Whether the stage is connected right now.</summary>
    public bool IsConnected => _core.IsConnected;

    /// <summary>The current connection's id; <see cref="ConnectionId.None"/> while disconnected.</summary>
    public ConnectionId ConnectionId => _core.ConnectionId;

    public IPEndPoint? RemoteEndPoint => _core.RemoteEndPoint;

    public int ServiceThreadId => _core.ServiceThreadOsId;

    internal ClientCore Core => _core;

    public event EventHandler<ConnectingEvent>? Connecting { add => _core.Connecting += value; remove => _core.Connecting -= value; }
    public event EventHandler<ConnectFailedEvent>? ConnectFailed { add => _core.ConnectFailed += value; remove => _core.ConnectFailed -= value; }
    public event EventHandler<ConnectedEvent>? Connected { add => _core.Connected += value; remove => _core.Connected -= value; }
    public event EventHandler<DisconnectedEvent>? Disconnected { add => _core.Disconnected += value; remove => _core.Disconnected -= value; }
    public event EventHandler<StageErrorEvent>? Error { add => _core.Error += value; remove => _core.Error -= value; }
    public event EventHandler<ClosedEvent>? Closed { add => _core.Closed += value; remove => _core.Closed -= value; }
    public event EventHandler<SocketStats>? StatsPublished { add => _core.StatsPublished += value; remove => _core.StatsPublished -= value; }

    /// <summary>Starts the service thread, which dials (and redials) in the background. Returns at once.</summary>
    public void Start()
    {
        if (Interlocked.Exchange(ref _started, 1) != 0)
            throw new InvalidOperationException($"stage '{Name}' was already started");
        _core.Start();
    }

    /// <summary>Starts the stage if needed and waits until it is connected; the token bounds the wait.</summary>
    public Task<IPEndPoint> ConnectAsync(CancellationToken cancellationToken = default)
    {
        if (Volatile.Read(ref _started) == 0)
            Start();
        return WaitConnectedAsync(cancellationToken);
    }

    /// <summary>Completes when the stage is connected (at once if it is); fails if it gives up (<c>reconnect_attempts</c>).</summary>
    public Task<IPEndPoint> WaitConnectedAsync(CancellationToken cancellationToken = default) => _core.WaitConnectedAsync(cancellationToken);

    /// <summary>
    /// Sends one message to the remote, encoded with the stage's framing. While disconnected it is
    /// held for the next connection (<see cref="DisconnectedEgressPolicy.Hold"/>) or dropped.
    /// Completes with false when it was dropped.
    /// </summary>
    public async ValueTask<bool> SendAsync(ReadOnlyMemory<byte> payload, FrameFields fields = default, CancellationToken cancellationToken = default)
    {
        var delivered = await _core.RouteAsync(EgressMessage.ToAll(payload, fields), cancellationToken).ConfigureAwait(false);
        return delivered == 1 || (!IsConnected && Options.EgressWhileDisconnected == DisconnectedEgressPolicy.Hold);
    }

    /// <summary>Drops the current connection; the stage reconnects as after any loss.</summary>
    public bool Reconnect(string? reason = null) => _core.RequestClose(ConnectionId, DisconnectReason.Killed, reason);

    public SocketStats GetStats() => _core.Snapshot();

    public IReadOnlyList<ConnectionInfo> GetConnections() => _core.GetConnections();

    public Task StopAsync(CancellationToken cancellationToken = default) => _core.StopAsync(cancellationToken);

    public async ValueTask DisposeAsync()
    {
        await StopAsync().ConfigureAwait(false);
        _core.Dispose();
    }
}
