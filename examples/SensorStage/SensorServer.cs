using System.Net;
using Ferry.Bus;
using Ferry.Stages;

namespace SensorStage;

/// <summary>Seed 000's stage configuration, for a robot's sensors.</summary>
public sealed record SensorServerOptions
{
    /// <summary><c>address</c>: where to bind.</summary>
    public string Bind { get; init; } = "127.0.0.1:9500";

    /// <summary><c>maximum_connections</c>.</summary>
    public int MaxConnections { get; init; } = 32;

    /// <summary><c>group_size</c>: packets per published group.</summary>
    public int GroupSize { get; init; } = 16;

    /// <summary>A group that is not full is published this long after its first packet.</summary>
    public TimeSpan GroupLinger { get; init; } = TimeSpan.FromMilliseconds(5);

    /// <summary><c>thread_processor_affinity</c>: CPUs the service thread may run on (empty: any).</summary>
    public IReadOnlyList<int> Affinity { get; init; } = [0];

    /// <summary><c>thread_priority</c>.</summary>
    public ThreadPriority Priority { get; init; } = ThreadPriority.AboveNormal;

    /// <summary><c>data_receive_timeout_ms</c>: a sensor silent this long is disconnected.</summary>
    public TimeSpan ReceiveTimeout { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary><c>egress_buffer_size_b</c>: per-sensor bytes of commands that may wait.</summary>
    public int EgressBufferBytes { get; init; } = 64 * 1024;

    /// <summary>The stage's clock (stats interval, group linger, receive timeout).</summary>
    public TimeProvider Time { get; init; } = TimeProvider.System;
}

/// <summary>One stats tick: the stage's <see cref="SocketStats"/> (seed 000's 1 Hz <c>socket_stats</c>) and the sensors' figures.</summary>
/// <param name="Stage">The stage's figures over the last second.</param>
/// <param name="Sensors">Each sensor's readings so far.</param>
/// <param name="LargestGroup">The most packets one group held so far.</param>
public sealed record SensorReport(SocketStats Stage, IReadOnlyList<SensorFigures> Sensors, int LargestGroup);

/// <summary>
/// Seed 000's "Server Stage (TCP)" for sensors: every <c>recv()</c> is a packet (the <c>raw</c>
/// framing), packets of all sensors are grouped by <c>group_size</c> and published on
/// <c>sensors/packet_group</c>, the service thread is pinned (<c>thread_processor_affinity</c>) and
/// prioritised, <c>sensors/socket_stats</c> comes once a second, and whatever is published on
/// <c>sensors/egress_packets</c> goes to every sensor (a command such as a new sample rate).
/// </summary>
/// <remarks>The packet-group, stats and event handlers are inline: they run on the pinned service thread,
/// do a little arithmetic and return; nothing there waits.</remarks>
public sealed class SensorServer : IAsyncDisposable
{
    private readonly List<IDisposable> _subscriptions = [];

    private SensorServer(TcpServerStage stage) => Stage = stage;

    /// <summary>The stage.</summary>
    public TcpServerStage Stage { get; }

    /// <summary>The address it listens on.</summary>
    public IPEndPoint LocalEndPoint => Stage.LocalEndPoint!;

    /// <summary>What the sensors have sent.</summary>
    public SensorAggregator Sensors { get; } = new();

    /// <summary>Raised once a second (on the stage's service thread) with the stage's stats and the sensors' figures.</summary>
    public event Action<SensorReport>? Reported;

    /// <summary>Starts listening; completes once bound.</summary>
    public static async Task<SensorServer> StartAsync(SensorServerOptions options, CancellationToken cancellationToken = default)
    {
        var bus = new InProcessBus();
        var stage = new TcpServerStage(new TcpServerStageOptions
        {
            Name = "sensors",
            Bind = options.Bind,
            MaxConnections = options.MaxConnections,
            GroupSize = options.GroupSize,
            GroupLinger = options.GroupLinger,
            ThreadProcessorAffinity = options.Affinity,
            ThreadPriority = options.Priority,
            IdleTimeout = options.ReceiveTimeout,
            EgressBufferBytes = options.EgressBufferBytes,
            Socket = new Ferry.Transport.TcpSocketOptions { NoDelay = true },
            StatsInterval = TimeSpan.FromSeconds(1),
            BindAttempts = 1,   // a port in use is an error at once (the stage's default retries, silently, forever)
        }, bus, timeProvider: options.Time);
        var server = new SensorServer(stage);
        server._subscriptions.Add(bus.Topic<PacketGroup>(StageTopics.PacketGroup(stage.Name)).Subscribe((group, _) =>
        {
            server.Sensors.OnGroup(group.Count);
            foreach (var packet in group)
                server.Sensors.OnPacket(packet.ConnectionId, packet.Payload.Span);   // check the address on the packet
            return ValueTask.CompletedTask;
        }));
        server._subscriptions.Add(bus.Topic<StageEvent>(StageTopics.Events(stage.Name)).Subscribe((stageEvent, _) =>
        {
            if (stageEvent is DisconnectedEvent closed)
                server.Sensors.OnDisconnected(closed.ConnectionId);
            return ValueTask.CompletedTask;
        }));
        server._subscriptions.Add(bus.Topic<SocketStats>(StageTopics.SocketStats(stage.Name)).Subscribe((stats, _) =>
        {
            server.Reported?.Invoke(new SensorReport(stats, server.Sensors.Snapshot(), server.Sensors.LargestGroup));
            return ValueTask.CompletedTask;
        }));
        return await Ferry.Examples.Shutdown.StartedAsync(server, () => stage.StartAsync(cancellationToken));
    }

    /// <summary>Sends a command to every connected sensor through <c>sensors/egress_packets</c>; completes when it is queued.</summary>
    public ValueTask SendCommandAsync(ReadOnlyMemory<byte> command, CancellationToken cancellationToken = default)
        => Stage.Bus.Topic<EgressMessage>(StageTopics.EgressPackets(Stage.Name)).PublishAsync(EgressMessage.ToAll(command), cancellationToken);

    /// <summary>Stops the stage and the subscriptions.</summary>
    public async ValueTask DisposeAsync()
    {
        await Stage.DisposeAsync();
        foreach (var subscription in _subscriptions)
            subscription.Dispose();
    }
}
