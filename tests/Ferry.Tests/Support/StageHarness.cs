using System.Collections.Concurrent;
using System.Net;
using Ferry.Bus;
using Ferry.Connections;
using Ferry.Stages;

namespace Ferry.Tests.Support;

/// <summary>
/// A server stage on port 0 with its events and packets recorded for assertions. Given a
/// <see cref="StageTime"/> (or any <see cref="TimeProvider"/>), the stage's timers run on it.
/// </summary>
public sealed class StageHarness : IAsyncDisposable
{
    private readonly ConcurrentQueue<StageEvent> _events = new();
    private readonly ConcurrentQueue<ReceivedPacket> _packets = new();
    private readonly ConcurrentQueue<int> _groupSizes = new();
    private readonly IDisposable? _packetSubscription;

    public StageHarness(TcpServerStageOptions? options = null, bool recordPackets = true, TimeProvider? time = null)
    {
        Time = time as StageTime;
        Bus = new InProcessBus();
        options ??= new TcpServerStageOptions();
        if (options.Bind == new TcpServerStageOptions().Bind)
            options = options with { Bind = "127.0.0.1:0" };
        Stage = new TcpServerStage(options, Bus, timeProvider: time);
        Stage.Listening += (_, e) => _events.Enqueue(e);
        Stage.Connected += (_, e) => _events.Enqueue(e);
        Stage.Disconnected += (_, e) => _events.Enqueue(e);
        Stage.Error += (_, e) => _events.Enqueue(e);
        Stage.Closed += (_, e) => _events.Enqueue(e);
        if (recordPackets)
        {
            _packetSubscription = Bus.Topic<PacketGroup>(StageTopics.PacketGroup(options.Name)).Subscribe((group, _) =>
            {
                _groupSizes.Enqueue(group.Count);
                foreach (var p in group)
                    _packets.Enqueue(new ReceivedPacket(p.ConnectionId, p.Peer, p.Payload.ToArray(), p.Fields, group.Sequence));
                return default;
            });
        }
    }

    public InProcessBus Bus { get; }

    /// <summary>The fake clock the stage runs on, if it was given one.</summary>
    public StageTime? Time { get; }

    public TcpServerStage Stage { get; }

    public IPEndPoint EndPoint { get; private set; } = null!;

    public IReadOnlyCollection<StageEvent> Events => _events;

    public IReadOnlyCollection<ReceivedPacket> Packets => _packets;

    public IReadOnlyCollection<int> GroupSizes => _groupSizes;

    public async Task<TcpServerStage> StartAsync()
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        EndPoint = await Stage.StartAsync(cts.Token);
        return Stage;
    }

    /// <summary>Advances the fake clock and waits until the stage has finished a round at the new time.</summary>
    public async Task AdvanceAsync(TimeSpan by)
    {
        var time = Time ?? throw new InvalidOperationException("the harness runs on real time");
        time.Advance(by);
        await time.SettleAsync(Stage);
    }

    /// <summary>Waits until the stage has finished a round at the fake clock's current time.</summary>
    public Task SettleAsync() => (Time ?? throw new InvalidOperationException("the harness runs on real time")).SettleAsync(Stage);

    public Task<TestClient> ConnectAsync() => TestClient.ConnectAsync(EndPoint);

    public async Task<T> WaitForEventAsync<T>(Func<T, bool>? match = null, TimeSpan? timeout = null) where T : StageEvent
    {
        T? found = null;
        await Eventually.TrueAsync(() => (found = _events.OfType<T>().FirstOrDefault(e => match?.Invoke(e) ?? true)) is not null,
            $"a {typeof(T).Name} event", timeout);
        return found!;
    }

    public Task<ConnectedEvent> WaitConnectedAsync(IPEndPoint clientLocal)
        => WaitForEventAsync<ConnectedEvent>(e => e.Peer.Port == clientLocal.Port);

    public Task<DisconnectedEvent> WaitDisconnectedAsync(ConnectionId id)
        => WaitForEventAsync<DisconnectedEvent>(e => e.ConnectionId == id);

    public async Task<List<ReceivedPacket>> WaitPacketsAsync(Func<IReadOnlyCollection<ReceivedPacket>, bool> until, string what)
    {
        await Eventually.TrueAsync(() => until(_packets), what);
        return [.. _packets];
    }

    /// <summary>Waits until the bytes received from one connection add up to <paramref name="expected"/>.</summary>
    public async Task<byte[]> WaitBytesFromAsync(ConnectionId id, int expected)
    {
        await Eventually.TrueAsync(() => _packets.Where(p => p.Connection == id).Sum(p => p.Payload.Length) >= expected,
            $"{expected} bytes from {id}");
        return _packets.Where(p => p.Connection == id).SelectMany(p => p.Payload).ToArray();
    }

    /// <summary>
    /// A stop with egress still queued (a stalled client) waits out its grace period on the stage's
    /// clock: on a fake clock that period passes only when the test moves the clock on.
    /// </summary>
    internal static async Task StopOnFakeTimeAsync(StageTime time, TimeSpan grace, Task stopping)
    {
        var step = grace + TimeSpan.FromMilliseconds(20);
        while (await Task.WhenAny(stopping, Task.Delay(10)) != stopping)
            time.Advance(step);
    }

    public async ValueTask DisposeAsync()
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        var stopping = Stage.StopAsync(cts.Token);
        if (Time is not null)
            await StopOnFakeTimeAsync(Time, Stage.Options.StopGracePeriod, stopping);
        await stopping;
        await Stage.DisposeAsync();
        _packetSubscription?.Dispose();
    }
}

public sealed record ReceivedPacket(ConnectionId Connection, IPEndPoint Peer, byte[] Payload, Ferry.Framing.FrameFields Fields, long Group);
