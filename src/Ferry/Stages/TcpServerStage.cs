using System.Net;
using Ferry.Bus;
using Ferry.Connections;
using Ferry.Stages.Internal;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Ferry.Stages;

/// <summary>
/// A TCP server stage: accepts clients, frames what they send into packets, publishes packet
/// groups on <c>&lt;name&gt;/packet_group</c>, writes what arrives on <c>&lt;name&gt;/egress_packets</c>
/// back to clients, and publishes <c>&lt;name&gt;/socket_stats</c> and <c>&lt;name&gt;/events</c>.
/// </summary>
/// <example>
/// <code>
/// var bus = new InProcessBus();
/// await using var stage = new TcpServerStage(new TcpServerStageOptions { Bind = ":9000" }, bus);
/// using var packets = bus.Topic&lt;PacketGroup&gt;("tcp_server/packet_group").SubscribeQueue();
/// await stage.StartAsync();
/// await foreach (var group in packets) { ... }
/// </code>
/// </example>
public sealed class TcpServerStage : IAsyncDisposable
{
    private readonly ServerCore _core;
    private int _started;

    /// <summary>Validates the options (throwing <see cref="StageOptionsException"/> naming every bad one) and prepares the stage.</summary>
    public TcpServerStage(TcpServerStageOptions options, IMessageBus? bus = null, ILoggerFactory? loggerFactory = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        Options = options;
        Bus = bus ?? new InProcessBus();
        var logger = (loggerFactory ?? NullLoggerFactory.Instance).CreateLogger("Ferry.Stages.TcpServer." + options.Name);
        _core = new ServerCore(this, options, Bus, logger);
    }

    public TcpServerStageOptions Options { get; }

    public IMessageBus Bus { get; }

    public string Name => Options.Name;

    /// <summary>The bound address once listening (with the real port when port 0 was asked for).</summary>
    public IPEndPoint? LocalEndPoint => _core.LocalEndPoint;

    public int ConnectionCount => _core.ConnectionCount;

    /// <summary>The kernel's id of the service thread (see <c>/proc/self/task/&lt;id&gt;</c>); 0 before start.</summary>
    public int ServiceThreadId => _core.ServiceThreadOsId;

    public event EventHandler<ListeningEvent>? Listening { add => _core.Listening += value; remove => _core.Listening -= value; }
    public event EventHandler<ConnectedEvent>? Connected { add => _core.Connected += value; remove => _core.Connected -= value; }
    public event EventHandler<DisconnectedEvent>? Disconnected { add => _core.Disconnected += value; remove => _core.Disconnected -= value; }
    public event EventHandler<StageErrorEvent>? Error { add => _core.Error += value; remove => _core.Error -= value; }
    public event EventHandler<ClosedEvent>? Closed { add => _core.Closed += value; remove => _core.Closed -= value; }
    public event EventHandler<SocketStats>? StatsPublished { add => _core.StatsPublished += value; remove => _core.StatsPublished -= value; }

    /// <summary>Starts the service thread, which binds (retrying until it can) and serves. Returns at once.</summary>
    public void Start()
    {
        if (Interlocked.Exchange(ref _started, 1) != 0)
            throw new InvalidOperationException($"stage '{Name}' was already started");
        _core.Start();
    }

    /// <summary>Starts the stage and waits until it is listening (bind failures are retried meanwhile).</summary>
    public async Task<IPEndPoint> StartAsync(CancellationToken cancellationToken = default)
    {
        Start();
        return await WaitListeningAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Completes with the bound address when the stage first listens.</summary>
    public Task<IPEndPoint> WaitListeningAsync(CancellationToken cancellationToken = default)
        => _core.ListeningTask.WaitAsync(cancellationToken);

    /// <summary>Totals as of now.</summary>
    public SocketStats GetStats() => _core.Snapshot();

    /// <summary>
    /// Sends one message to one connection, encoded with the stage's framing. Completes with false
    /// when that connection is unknown or closed, or the message was dropped by the overflow policy.
    /// The payload is copied before the task completes.
    /// </summary>
    public async ValueTask<bool> SendAsync(ConnectionId connection, ReadOnlyMemory<byte> payload, Framing.FrameFields fields = default, CancellationToken cancellationToken = default)
        => await _core.RouteAsync(EgressMessage.To(connection, payload, fields), cancellationToken).ConfigureAwait(false) == 1;

    /// <summary>Sends one message to every connection, optionally except one (the sender); completes with how many took it.</summary>
    public ValueTask<int> BroadcastAsync(ReadOnlyMemory<byte> payload, Framing.FrameFields fields = default, ConnectionId except = default, CancellationToken cancellationToken = default)
        => _core.RouteAsync(EgressMessage.ToAll(payload, fields, except), cancellationToken);

    /// <summary>Sends one message to every member of a group, optionally except one; completes with how many took it.</summary>
    public ValueTask<int> SendToGroupAsync(string group, ReadOnlyMemory<byte> payload, Framing.FrameFields fields = default, ConnectionId except = default, CancellationToken cancellationToken = default)
        => _core.RouteAsync(EgressMessage.ToGroup(group, payload, fields, except), cancellationToken);

    /// <summary>
    /// Sends one message to exactly one connection, the next in turn with room (load balancing, as a
    /// ZeroMQ PUSH socket does); completes with false when nobody took it (no connection: held or
    /// dropped like a broadcast to nobody; every one full: the overflow policy applied).
    /// </summary>
    public async ValueTask<bool> SendToAnyAsync(ReadOnlyMemory<byte> payload, Framing.FrameFields fields = default, CancellationToken cancellationToken = default)
        => await _core.RouteAsync(EgressMessage.ToAny(payload, fields), cancellationToken).ConfigureAwait(false) == 1;

    /// <summary>Closes a connection (the kill switch); its disconnected event carries reason <c>killed</c>, the detail and the code.</summary>
    public bool Close(ConnectionId connection, string? reason = null, string? code = null)
        => _core.RequestClose(connection, DisconnectReason.Killed, reason, code);

    /// <summary>Adds a connection to a group (created on first join); false when the connection is unknown.</summary>
    public bool JoinGroup(ConnectionId connection, string group) => _core.Join(connection, group);

    /// <summary>Removes a connection from a group (an empty group disappears); false when it was not a member.</summary>
    public bool LeaveGroup(ConnectionId connection, string group) => _core.Leave(connection, group);

    public IReadOnlyList<ConnectionId> GetGroupMembers(string group) => _core.GetGroupMembers(group);

    public IReadOnlyList<string> GetGroupsOf(ConnectionId connection) => _core.GetGroupsOf(connection);

    public IReadOnlyList<string> GetGroups() => _core.GetGroupNames();

    /// <summary>The connection registry: id, peer, times, traffic, egress queued and dropped, groups.</summary>
    public IReadOnlyList<ConnectionInfo> GetConnections() => _core.GetConnections();

    internal ServerCore Core => _core;

    /// <summary>Fault injection for tests.</summary>
    internal void BreakListenerForTest() => _core.BreakListenerForTest();

    /// <summary>
    /// Stops gracefully: stops accepting, lets queued egress drain for up to the grace period, then
    /// closes every connection. Cancelling the token cuts the grace period short.
    /// </summary>
    public Task StopAsync(CancellationToken cancellationToken = default) => _core.StopAsync(cancellationToken);

    public async ValueTask DisposeAsync()
    {
        await StopAsync().ConfigureAwait(false);
        _core.Dispose();
    }
}
