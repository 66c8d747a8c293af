using System.Net;
using Ferry.Bus;
using Ferry.Connections;
using Ferry.Stages;
using Microsoft.Extensions.Time.Testing;

namespace Ferry.Testing;

/// <summary>
/// A <see cref="TcpServerStage"/> on a loopback port of its own (port 0 unless the options bind one) with
/// its events and packets recorded, and awaited with deadlines that fail with what was awaited and what
/// was seen instead.
/// </summary>
/// <example>
/// <code>
/// await using var server = await FerryTestServer.StartAsync(new TcpServerStageOptions { Framing = FramingSpec.Parse("lines") });
/// using var client = await server.ConnectAsync(new FramedTestClientOptions { Framing = FramingSpec.Parse("lines") });
/// var connected = await server.WaitForConnectionAsync(client);
/// await client.SendMessageAsync("hello");
/// var packet = await server.WaitForPacketAsync(p => p.Connection == connected.ConnectionId);
/// </code>
/// </example>
/// <remarks>
/// Packets are copied out of the stage's packet groups as they are published on the bus (topic
/// <c>&lt;stage&gt;/packet_group</c>), so recorded payloads stay valid. Events are recorded from the stage's
/// .NET events. With a <see cref="FakeTimeProvider"/> as the stage's clock, disposing moves that clock on
/// past the stop's grace period so that a stop with egress still queued ends.
/// </remarks>
public sealed class FerryTestServer : IAsyncDisposable
{
    private const int EventsShownOnTimeout = 12;

    private readonly Recording<StageEvent> _events = new();
    private readonly Recording<RecordedPacket> _packets = new();
    private readonly Recording<int> _groupSizes = new();
    private readonly IDisposable? _packetSubscription;
    private IPEndPoint? _endPoint;

    /// <summary>Creates the stage (not started: call <see cref="StartAsync(CancellationToken)"/>).</summary>
    /// <param name="options">The stage's options; the default bind address (<c>127.0.0.1:9000</c>) becomes <c>127.0.0.1:0</c>, any other is kept.</param>
    /// <param name="recordPackets">False to leave the packet-group topic alone (a test that subscribes itself, or measures).</param>
    /// <param name="time">The stage's clock, e.g. a <see cref="FakeTimeProvider"/>; the system clock when null.</param>
    public FerryTestServer(TcpServerStageOptions? options = null, bool recordPackets = true, TimeProvider? time = null)
    {
        Time = time;
        Bus = new InProcessBus();
        options ??= new TcpServerStageOptions();
        if (options.Bind == new TcpServerStageOptions().Bind)
            options = options with { Bind = "127.0.0.1:0" };
        Stage = new TcpServerStage(options, Bus, timeProvider: time);
        Stage.Listening += (_, e) => _events.Add(e);
        Stage.Connected += (_, e) => _events.Add(e);
        Stage.Disconnected += (_, e) => _events.Add(e);
        Stage.Error += (_, e) => _events.Add(e);
        Stage.Closed += (_, e) => _events.Add(e);
        if (recordPackets)
            _packetSubscription = Bus.Topic<PacketGroup>(StageTopics.PacketGroup(options.Name)).Subscribe(Record);
    }

    /// <summary>Creates and starts a test server: <c>await using var server = await FerryTestServer.StartAsync(options);</c></summary>
    /// <param name="options">The stage's options (see the constructor).</param>
    /// <param name="time">The stage's clock; the system clock when null.</param>
    /// <param name="recordPackets">False to leave the packet-group topic alone.</param>
    /// <param name="cancellationToken">Cancels the start.</param>
    public static async Task<FerryTestServer> StartAsync(TcpServerStageOptions options, TimeProvider? time = null, bool recordPackets = true,
        CancellationToken cancellationToken = default)
    {
        var server = new FerryTestServer(options, recordPackets, time);
        try
        {
            await server.StartAsync(cancellationToken).ConfigureAwait(false);
            return server;
        }
        catch
        {
            await server.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>The bus the stage publishes on (packet groups, events, stats) and takes egress from.</summary>
    public InProcessBus Bus { get; }

    /// <summary>The stage under test.</summary>
    public TcpServerStage Stage { get; }

    /// <summary>The clock the stage was given; null for the system clock.</summary>
    public TimeProvider? Time { get; }

    /// <summary>How long the waits of this server (and of the clients it connects) last unless told otherwise; <see cref="Poll.DefaultTimeout"/> by default.</summary>
    public TimeSpan Timeout { get; init; } = Poll.DefaultTimeout;

    /// <summary>The address the stage listens on, with its real port; known once started.</summary>
    /// <exception cref="InvalidOperationException">The server has not been started.</exception>
    public IPEndPoint EndPoint => _endPoint ?? throw new InvalidOperationException("the test server has not been started: call StartAsync first");

    /// <summary>Every event recorded so far, in the order raised (a snapshot).</summary>
    public IReadOnlyList<StageEvent> Events => _events.Snapshot();

    /// <summary>Every packet recorded so far, in the order published (a snapshot).</summary>
    public IReadOnlyList<RecordedPacket> Packets => _packets.Snapshot();

    /// <summary>The packet count of each published packet group, in order (a snapshot).</summary>
    public IReadOnlyList<int> GroupSizes => _groupSizes.Snapshot();

    /// <summary>Starts the stage and waits (bounded by <see cref="Timeout"/>) until it listens.</summary>
    /// <returns>The stage, for chaining.</returns>
    public Task<TcpServerStage> StartAsync() => StartAsync(CancellationToken.None);

    /// <summary>Starts the stage and waits (bounded by <see cref="Timeout"/>) until it listens.</summary>
    /// <param name="cancellationToken">Cancels the start.</param>
    /// <returns>The stage, for chaining.</returns>
    public async Task<TcpServerStage> StartAsync(CancellationToken cancellationToken)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(Timeout);
        _endPoint = await Stage.StartAsync(deadline.Token).ConfigureAwait(false);
        return Stage;
    }

    /// <summary>Connects a new test client to the server.</summary>
    /// <param name="options">The client's framing, TLS and timeout; raw, plain and this server's <see cref="Timeout"/> when null.</param>
    /// <param name="cancellationToken">Cancels the connect.</param>
    public Task<FramedTestClient> ConnectAsync(FramedTestClientOptions? options = null, CancellationToken cancellationToken = default)
        => FramedTestClient.ConnectAsync(EndPoint, options ?? new FramedTestClientOptions { Timeout = Timeout }, cancellationToken);

    /// <summary>Waits for the first recorded event of type <typeparamref name="T"/> that matches.</summary>
    /// <typeparam name="T">The event type, e.g. <see cref="StageErrorEvent"/>.</typeparam>
    /// <param name="match">Which event; any of the type when null.</param>
    /// <param name="timeout">How long to wait; <see cref="Timeout"/> when null.</param>
    /// <exception cref="TimeoutException">No such event in time; the message lists the events seen.</exception>
    public Task<T> WaitForEventAsync<T>(Func<T, bool>? match = null, TimeSpan? timeout = null)
        where T : StageEvent
        => WaitForEventAsync(match, match is null ? $"a {typeof(T).Name}" : $"a matching {typeof(T).Name}", timeout);

    /// <summary>Waits until a connection is established; the first one recorded when <paramref name="clientLocal"/> is null.</summary>
    /// <param name="clientLocal">The client's local address (its port tells its connection apart), or null for any.</param>
    /// <param name="timeout">How long to wait; <see cref="Timeout"/> when null.</param>
    public Task<ConnectedEvent> WaitForConnectionAsync(IPEndPoint? clientLocal = null, TimeSpan? timeout = null)
        => clientLocal is null
            ? WaitForEventAsync<ConnectedEvent>(null, "a connection", timeout)
            : WaitForEventAsync<ConnectedEvent>(e => e.Peer.Port == clientLocal.Port, $"the connection from port {clientLocal.Port}", timeout);

    /// <summary>Waits until <paramref name="client"/>'s connection is established on the server.</summary>
    /// <param name="client">A client connected to this server.</param>
    public Task<ConnectedEvent> WaitForConnectionAsync(FramedTestClient client)
    {
        ArgumentNullException.ThrowIfNull(client);
        return WaitForConnectionAsync(client.LocalEndPoint);
    }

    /// <summary>Waits until the connection <paramref name="connection"/> has ended.</summary>
    /// <param name="connection">The connection's id (from its <see cref="ConnectedEvent"/>).</param>
    /// <param name="timeout">How long to wait; <see cref="Timeout"/> when null.</param>
    public Task<DisconnectedEvent> WaitForDisconnectAsync(ConnectionId connection, TimeSpan? timeout = null)
        => WaitForEventAsync<DisconnectedEvent>(e => e.ConnectionId == connection, $"{connection} to disconnect", timeout);

    /// <summary>Waits until some connection has ended for <paramref name="reason"/>.</summary>
    /// <param name="reason">Why it must have ended, e.g. <see cref="DisconnectReason.IdleTimeout"/>.</param>
    public Task<DisconnectedEvent> WaitForDisconnectAsync(DisconnectReason reason)
        => WaitForEventAsync<DisconnectedEvent>(e => e.Reason == reason, $"a disconnect with reason {reason}", null);

    /// <summary>Waits for the first recorded packet that matches.</summary>
    /// <param name="match">Which packet; any when null.</param>
    /// <param name="timeout">How long to wait; <see cref="Timeout"/> when null.</param>
    /// <exception cref="TimeoutException">No such packet in time; the message lists the packets seen.</exception>
    public Task<RecordedPacket> WaitForPacketAsync(Func<RecordedPacket, bool>? match = null, TimeSpan? timeout = null)
        => _packets.WaitAsync(all => all.FirstOrDefault(p => match?.Invoke(p) ?? true), match is null ? "a packet" : "a matching packet",
            timeout ?? Timeout, DescribePackets);

    /// <summary>Waits until the recorded packets satisfy <paramref name="until"/>, and returns them all.</summary>
    /// <param name="until">The condition on every packet recorded so far.</param>
    /// <param name="what">What is awaited, for the failure message ("3 packets from the second client").</param>
    /// <param name="timeout">How long to wait; <see cref="Timeout"/> when null.</param>
    public Task<IReadOnlyList<RecordedPacket>> WaitForPacketsAsync(Func<IReadOnlyList<RecordedPacket>, bool> until, string what,
        TimeSpan? timeout = null)
    {
        ArgumentNullException.ThrowIfNull(until);
        return _packets.WaitAsync(all => until(all) ? all : null, what, timeout ?? Timeout, DescribePackets);
    }

    /// <summary>Waits until at least <paramref name="count"/> packets are recorded, and returns them all.</summary>
    /// <param name="count">How many packets.</param>
    public Task<IReadOnlyList<RecordedPacket>> WaitForPacketsAsync(int count)
        => WaitForPacketsAsync(all => all.Count >= count, $"{count} packets");

    /// <summary>Waits until the payloads received from one connection add up to <paramref name="expected"/> bytes, and returns them concatenated.</summary>
    /// <param name="connection">The connection.</param>
    /// <param name="expected">How many bytes in all.</param>
    /// <param name="timeout">How long to wait; <see cref="Timeout"/> when null.</param>
    public async Task<byte[]> WaitForBytesFromAsync(ConnectionId connection, int expected, TimeSpan? timeout = null)
    {
        var all = await WaitForPacketsAsync(ps => ps.Where(p => p.Connection == connection).Sum(p => p.Payload.Length) >= expected,
            $"{expected} bytes from {connection}", timeout).ConfigureAwait(false);
        return [.. all.Where(p => p.Connection == connection).SelectMany(p => p.Payload)];
    }

    /// <summary>Stops the stage (queued egress drains within its grace period) and releases it.</summary>
    public async ValueTask DisposeAsync()
    {
        try
        {
            using var deadline = new CancellationTokenSource(Timeout);
            var stopping = Stage.StopAsync(deadline.Token);
            if (Time is FakeTimeProvider fake)
                await MoveClockUntilStoppedAsync(fake, Stage.Options.StopGracePeriod, stopping).ConfigureAwait(false);
            await stopping.ConfigureAwait(false);
            await Stage.DisposeAsync().ConfigureAwait(false);
        }
        finally
        {
            _packetSubscription?.Dispose();
        }
    }

    /// <summary>
    /// A stop with egress still queued (a stalled client) waits out its grace period on the stage's
    /// clock; on a fake clock that period passes only when someone moves the clock on.
    /// </summary>
    private static async Task MoveClockUntilStoppedAsync(FakeTimeProvider time, TimeSpan grace, Task stopping)
    {
        var step = grace + TimeSpan.FromMilliseconds(20);
        while (await Task.WhenAny(stopping, Task.Delay(10)).ConfigureAwait(false) != stopping)
            time.Advance(step);
    }

    private Task<T> WaitForEventAsync<T>(Func<T, bool>? match, string what, TimeSpan? timeout)
        where T : StageEvent
        => _events.WaitAsync(all => all.OfType<T>().FirstOrDefault(e => match?.Invoke(e) ?? true), what, timeout ?? Timeout, DescribeEvents);

    private ValueTask Record(PacketGroup group, CancellationToken _)
    {
        _groupSizes.Add(group.Count);
        foreach (var p in group)
            _packets.Add(new RecordedPacket(p.ConnectionId, p.Peer, p.Payload.ToArray(), p.Fields, group.Sequence));
        return default;
    }

    private static string DescribeEvents(IReadOnlyList<StageEvent> events)
    {
        if (events.Count == 0)
            return "no events";
        var shown = events.TakeLast(EventsShownOnTimeout).Select(Describe);
        var skipped = events.Count > EventsShownOnTimeout ? $"… {events.Count - EventsShownOnTimeout} earlier, then " : "";
        return $"{events.Count} events: {skipped}{string.Join(", ", shown)}";
    }

    private static string Describe(StageEvent e) => e switch
    {
        ListeningEvent l => $"listening on {l.LocalEndPoint}",
        ConnectedEvent c => $"connected {c.ConnectionId} from {c.Peer}",
        DisconnectedEvent d => $"disconnected {d.ConnectionId} ({d.ReasonName}{(d.Detail is null ? "" : ": " + d.Detail)})",
        StageErrorEvent x => $"error {x.Kind}: {x.Message}",
        ClosedEvent => "closed",
        _ => e.GetType().Name,
    };

    private static string DescribePackets(IReadOnlyList<RecordedPacket> packets)
    {
        if (packets.Count == 0)
            return "no packets";
        var byConnection = packets.GroupBy(p => p.Connection).Select(g => $"{g.Count()} from {g.Key} ({g.Sum(p => p.Payload.Length)} bytes)");
        return $"{packets.Count} packets: {string.Join(", ", byConnection)}";
    }
}
