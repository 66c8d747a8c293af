using System.Collections.Concurrent;
using Ferry.Bus;
using Ferry.Connections;
using Ferry.Framing;
using Ferry.Stages;
using NATS.Client.Core;

namespace Ferry.Nats.Tests.Support;

/// <summary>One server stage on a free loopback port with its NATS gateway, and the connected events seen.</summary>
public sealed class Gateway : IAsyncDisposable
{
    private Gateway(TcpServerStage stage, NatsGateway nats) => (Stage, Nats) = (stage, nats);

    public TcpServerStage Stage { get; }

    public NatsGateway Nats { get; }

    public int Port => Stage.LocalEndPoint!.Port;

    public ConcurrentQueue<ConnectedEvent> ConnectedEvents { get; } = new();

    public ConcurrentQueue<DisconnectedEvent> DisconnectedEvents { get; } = new();

    public static async Task<Gateway> StartAsync(NatsServer server, string stage, IFraming? framing = null,
        Action<NatsGatewayOptions>? configure = null, Func<TcpServerStageOptions, TcpServerStageOptions>? stageOptions = null,
        Microsoft.Extensions.Logging.ILoggerFactory? logs = null)
    {
        var options = new TcpServerStageOptions { Name = stage, Bind = "127.0.0.1:0", Framing = framing ?? RawFraming.Default, StatsInterval = TimeSpan.FromMilliseconds(200) };
        var tcp = new TcpServerStage(stageOptions?.Invoke(options) ?? options, new InProcessBus());
        var natsOptions = new NatsGatewayOptions { Url = server.Url };
        configure?.Invoke(natsOptions);
        var gateway = new Gateway(tcp, new NatsGateway(tcp, natsOptions, logs ?? TestLogging.Factory));
        tcp.Connected += (_, e) => gateway.ConnectedEvents.Enqueue(e);
        tcp.Disconnected += (_, e) => gateway.DisconnectedEvents.Enqueue(e);
        await gateway.Nats.StartAsync();
        await tcp.StartAsync();
        return gateway;
    }

    /// <summary>The id of the connection whose peer port is <paramref name="clientPort"/>, once the stage has announced it.</summary>
    public async Task<ConnectionId> ConnectionOfAsync(int clientPort)
    {
        ConnectionId found = default;
        await Eventually.TrueAsync(() =>
        {
            foreach (var e in ConnectedEvents)
                if (e.Peer.Port == clientPort)
                {
                    found = e.ConnectionId;
                    return true;
                }
            return false;
        }, TimeSpan.FromSeconds(10), () => $"no connected event for client port {clientPort}");
        return found;
    }

    public async ValueTask DisposeAsync()
    {
        // A stage blocked on a full JetStream window stops when forced; then the gateway drains and closes.
        using (var force = new CancellationTokenSource(TimeSpan.FromSeconds(10)))
            await Stage.StopAsync(force.Token);
        await Stage.DisposeAsync();
        await Nats.DisposeAsync();
    }
}

/// <summary>A test's own NATS client, to play the worker or watch subjects.</summary>
public static class Observer
{
    public static async Task<NatsConnection> ConnectAsync(NatsServer server)
    {
        var nats = new NatsConnection(new NatsOpts { Url = server.Url, Name = "test-observer", MaxReconnectRetry = -1, ReconnectWaitMax = TimeSpan.FromMilliseconds(500),
            ConnectTimeout = TimeSpan.FromSeconds(10) }); // the machine may be busy
        await nats.ConnectAsync();
        return nats;
    }

    /// <summary>Collects what arrives on a subject (copied) until disposed; the subscription is live when this returns.</summary>
    public static async Task<Collector> CollectAsync(NatsConnection nats, string subject)
    {
        var sub = await nats.SubscribeCoreAsync<byte[]>(subject);
        await nats.PingAsync(); // the server has the subscription once it answered the ping after it
        return new Collector(sub);
    }
}

public sealed class Collector : IAsyncDisposable
{
    private readonly INatsSub<byte[]> _sub;
    private readonly Task _loop;

    public Collector(INatsSub<byte[]> sub)
    {
        _sub = sub;
        _loop = Task.Run(async () =>
        {
            await foreach (var msg in sub.Msgs.ReadAllAsync())
                Messages.Enqueue(msg);
        });
    }

    public ConcurrentQueue<NatsMsg<byte[]>> Messages { get; } = new();

    public async Task<List<NatsMsg<byte[]>>> WaitForAsync(int count, TimeSpan? timeout = null)
    {
        await Eventually.TrueAsync(() => Messages.Count >= count, timeout ?? TimeSpan.FromSeconds(10),
            () => $"{Messages.Count} of {count} messages on {_sub.Subject}");
        return [.. Messages];
    }

    public async ValueTask DisposeAsync()
    {
        await _sub.UnsubscribeAsync();
        await _sub.DisposeAsync();
        await _loop.WaitAsync(TimeSpan.FromSeconds(5));
    }
}
