using Ferry.Transport;
using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Ferry.Bus;
using Ferry.Connections;
using Ferry.Framing;
using Ferry.Stages;
using Ferry.Tests.Support;

namespace Ferry.Tests.Stages;

public abstract class ClientStageTests(StageTransport transport)
{
    /// <summary>These tests on the epoll transport.</summary>
    public sealed class OnEpoll() : ClientStageTests(StageTransport.Epoll);

    /// <summary>These tests on the portable stream transport.</summary>
    public sealed class OnStream() : ClientStageTests(StageTransport.Stream);

    private StageTransport Transport => transport;

    private sealed class ClientRecorder
    {
        public readonly ConcurrentQueue<StageEvent> Events = new();
        public readonly ConcurrentQueue<RecordedPacket> Packets = new();

        public ClientRecorder(TcpClientStage stage)
        {
            stage.Connecting += (_, e) => Events.Enqueue(e);
            stage.ConnectFailed += (_, e) => Events.Enqueue(e);
            stage.Connected += (_, e) => Events.Enqueue(e);
            stage.Disconnected += (_, e) => Events.Enqueue(e);
            stage.Bus.Topic<PacketGroup>(StageTopics.PacketGroup(stage.Name)).Subscribe((g, _) =>
            {
                foreach (var p in g)
                    Packets.Enqueue(new RecordedPacket(p.ConnectionId, p.Peer, p.Payload.ToArray(), p.Fields, g.Sequence));
                return default;
            });
        }

        public string Text => Encoding.ASCII.GetString(Packets.SelectMany(p => p.Payload).ToArray());

        public List<ConnectFailedEvent> Failures => Events.OfType<ConnectFailedEvent>().ToList();

        /// <summary>
        /// Waits until the dialler is waiting out a back-off (its latest event is a failure, so no attempt
        /// is in flight) and returns that failure: nothing more happens until the clock reaches its RetryIn.
        /// </summary>
        public async Task<ConnectFailedEvent> WaitBackingOffAsync(int failures)
        {
            await Poll.UntilAsync(() => Failures.Count >= failures && Events.Last() is ConnectFailedEvent, $"{failures} failures and a back-off",
                seen: () => "events: " + string.Join(", ", Events.Select(e => e.GetType().Name)));
            return (ConnectFailedEvent)Events.Last();
        }
    }

    /// <summary>Moves the fake clock on by a back-off's RetryIn, so the next attempt is due.</summary>
    private static void AdvanceBy(StageTime time, ConnectFailedEvent failure) => time.Advance(failure.RetryIn);

    [Fact]
    public async Task A_client_started_before_its_server_connects_once_the_server_appears()
    {
        var port = FreePorts.One();
        var time = new StageTime();
        await using var client = new TcpClientStage(new TcpClientStageOptions
        {
            Connect = $"127.0.0.1:{port}",
            ReconnectWait = TimeSpan.FromMilliseconds(20),
            ReconnectMaxWait = TimeSpan.FromMilliseconds(100),
        }.On(Transport), timeProvider: time);
        var rec = new ClientRecorder(client);
        client.Start();
        AdvanceBy(time, await rec.WaitBackingOffAsync(1));
        var second = await rec.WaitBackingOffAsync(2);
        Assert.False(client.IsConnected);
        Assert.Contains("ECONNREFUSED", rec.Failures[0].Reason);

        await using var server = new FerryTestServer(new TcpServerStageOptions { Bind = $"127.0.0.1:{port}" }.On(Transport));
        await server.StartAsync();
        AdvanceBy(time, second);
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        var remote = await client.WaitConnectedAsync(cts.Token);
        Assert.Equal(port, remote.Port);
        Assert.True(client.IsConnected);

        Assert.True(await client.SendAsync("hello server"u8.ToArray()));
        await server.WaitForPacketsAsync(p => p.Count == 1, "the client's message");
        await server.Stage.BroadcastAsync("hello client"u8.ToArray());
        await Poll.UntilAsync(() => rec.Text == "hello client", "the server's reply");
    }

    [Fact]
    public async Task A_client_stage_that_stops_closes_its_connection_as_client_stopping_not_as_the_servers_stop()
    {
        await using var server = new FerryTestServer(new TcpServerStageOptions().On(Transport));
        await server.StartAsync();
        var client = new TcpClientStage(new TcpClientStageOptions { Connect = server.EndPoint.ToString() }.On(Transport));
        var rec = new ClientRecorder(client);
        await client.ConnectAsync(new CancellationTokenSource(TimeSpan.FromSeconds(10)).Token);
        var accepted = await server.WaitForConnectionAsync();

        await client.DisposeAsync();
        var closed = Assert.Single(rec.Events.OfType<DisconnectedEvent>());
        Assert.Equal(DisconnectReason.ClientStopping, closed.Reason);
        Assert.Equal("client_stopping", closed.Reason.ToName());
        // The server saw its peer go; server_stopping is only ever its own stop.
        Assert.Equal(DisconnectReason.RemoteClosed, (await server.WaitForDisconnectAsync(accepted.ConnectionId)).Reason);
    }

    [Fact]
    public async Task A_restarted_server_is_reconnected_to_with_growing_capped_jittered_waits()
    {
        var port = FreePorts.One();
        var server = new FerryTestServer(new TcpServerStageOptions { Bind = $"127.0.0.1:{port}" }.On(Transport));
        await server.StartAsync();
        var time = new StageTime();
        await using var client = new TcpClientStage(new TcpClientStageOptions
        {
            Connect = $"127.0.0.1:{port}",
            ReconnectWait = TimeSpan.FromMilliseconds(20),
            ReconnectMaxWait = TimeSpan.FromMilliseconds(160),
            ReconnectJitter = 0.25,
            HealthyAfter = TimeSpan.FromHours(1),
        }.On(Transport), timeProvider: time);
        var rec = new ClientRecorder(client);
        await client.ConnectAsync(new CancellationTokenSource(TimeSpan.FromSeconds(10)).Token);
        await client.SendAsync("before"u8.ToArray());
        await server.WaitForPacketsAsync(p => p.Count == 1, "first message");

        await server.DisposeAsync(); // server goes away mid-stream
        for (var failures = 1; failures < 8; failures++)
        {
            var failure = await rec.WaitBackingOffAsync(failures);
            // Not a millisecond early: the attempt is due RetryIn (in whole ms) after the failure.
            var early = TimeSpan.FromMilliseconds(Math.Floor(failure.RetryIn.TotalMilliseconds) - 1);
            time.Advance(early);
            await time.SettleAsync(client);
            Assert.Equal(failures, rec.Failures.Count);
            time.Advance(failure.RetryIn - early);
        }
        var last = await rec.WaitBackingOffAsync(8);
        var waits = rec.Failures.Take(8).Select(e => e.RetryIn.TotalMilliseconds).ToList();
        // nominal 20, 40, 80, 160, 160, ... each within ±25 %
        double[] nominal = [20, 40, 80, 160, 160, 160, 160, 160];
        for (var i = 0; i < waits.Count; i++)
            Assert.InRange(waits[i], nominal[i] * 0.75 - 0.001, nominal[i] * 1.25 + 0.001);
        Assert.True(waits.Skip(3).Distinct().Count() > 1, "jitter spreads the capped waits");
        Assert.StartsWith($"connection to 127.0.0.1:{port} ended (", rec.Events.OfType<ConnectFailedEvent>().First().Reason);

        await using var again = new FerryTestServer(new TcpServerStageOptions { Bind = $"127.0.0.1:{port}" }.On(Transport));
        await again.StartAsync();
        AdvanceBy(time, last);
        await client.WaitConnectedAsync(new CancellationTokenSource(TimeSpan.FromSeconds(10)).Token);
        await client.SendAsync("after"u8.ToArray());
        var packets = await again.WaitForPacketsAsync(p => p.Count == 1, "message after the restart");
        Assert.Equal("after", Encoding.ASCII.GetString(packets[0].Payload));
        Assert.Equal(2, rec.Events.OfType<ConnectedEvent>().Select(e => e.ConnectionId).Distinct().Count());
    }

    [Fact]
    public async Task Without_jitter_the_back_off_doubles_to_its_cap_and_each_attempt_comes_exactly_when_announced()
    {
        var port = FreePorts.One(); // nobody listens: every attempt is refused
        var time = new StageTime();
        await using var client = new TcpClientStage(new TcpClientStageOptions
        {
            Connect = $"127.0.0.1:{port}",
            ReconnectWait = TimeSpan.FromMilliseconds(100),
            ReconnectMaxWait = TimeSpan.FromMilliseconds(1000),
            ReconnectJitter = 0,
        }.On(Transport), timeProvider: time);
        var rec = new ClientRecorder(client);
        var start = time.GetUtcNow();
        client.Start();

        double[] expected = [100, 200, 400, 800, 1000, 1000];
        for (var i = 0; i < expected.Length; i++)
        {
            var failure = await rec.WaitBackingOffAsync(i + 1);
            Assert.Equal(TimeSpan.FromMilliseconds(expected[i]), failure.RetryIn);
            Assert.False(failure.GivingUp);
            time.Advance(failure.RetryIn - TimeSpan.FromMilliseconds(1));
            await time.SettleAsync(client);
            Assert.Equal(i + 1, rec.Events.OfType<ConnectingEvent>().Count()); // not a millisecond early
            time.Advance(TimeSpan.FromMilliseconds(1));
            await Poll.UntilAsync(() => rec.Events.OfType<ConnectingEvent>().Count() == i + 2, $"attempt {i + 2}");
        }
        // Attempts start at 0, 100, 300, 700, 1500, 2500, 3500 ms; their numbers count up.
        var attempts = rec.Events.OfType<ConnectingEvent>().ToList();
        Assert.Equal([0.0, 100, 300, 700, 1500, 2500, 3500], attempts.Select(a => (a.Time - start).TotalMilliseconds));
        Assert.Equal([1, 2, 3, 4, 5, 6, 7], attempts.Select(a => a.Attempt));
    }

    [Fact]
    public async Task A_connection_that_stayed_up_for_healthy_after_resets_the_back_off()
    {
        await using var server = new FerryTestServer(new TcpServerStageOptions().On(Transport));
        await server.StartAsync();
        var time = new StageTime();
        await using var client = new TcpClientStage(new TcpClientStageOptions
        {
            Connect = server.EndPoint.ToString(),
            ReconnectWait = TimeSpan.FromMilliseconds(100),
            ReconnectMaxWait = TimeSpan.FromSeconds(10),
            ReconnectJitter = 0,
            HealthyAfter = TimeSpan.FromSeconds(2),
        }.On(Transport), timeProvider: time);
        var rec = new ClientRecorder(client);
        await client.ConnectAsync(new CancellationTokenSource(TimeSpan.FromSeconds(10)).Token);

        // The server drops the client after `up`; the client reconnects after the back-off it announces.
        async Task<TimeSpan> DropAfterAsync(TimeSpan up, int failures)
        {
            var id = (await server.WaitForEventAsync<ConnectedEvent>(e => !server.Events.OfType<DisconnectedEvent>().Any(d => d.ConnectionId == e.ConnectionId))).ConnectionId;
            time.Advance(up);
            await time.SettleAsync(client);
            Assert.True(server.Stage.Close(id));
            // The server closes the socket before it raises Disconnected: the client can see the close, back off and be
            // connected again while this connection still looks live in the server's events, and the next call would then
            // take it for the new one (and find it gone when it closes it). Its disconnect is recorded before we go on.
            await server.WaitForDisconnectAsync(id);
            var failure = await rec.WaitBackingOffAsync(failures);
            Assert.Equal($"connection to {server.EndPoint} ended (remote_closed)", failure.Reason);
            Assert.Equal(0, failure.Attempt); // no attempt failed: the connection ended
            time.Advance(failure.RetryIn);
            await Poll.UntilAsync(() => rec.Events.OfType<ConnectedEvent>().Count() == failures + 1, $"connection {failures + 1}");
            return failure.RetryIn;
        }

        // Connections that die young make the back-off grow ...
        Assert.Equal(TimeSpan.FromMilliseconds(100), await DropAfterAsync(TimeSpan.FromMilliseconds(10), 1));
        Assert.Equal(TimeSpan.FromMilliseconds(200), await DropAfterAsync(TimeSpan.FromMilliseconds(1999), 2));
        Assert.Equal(TimeSpan.FromMilliseconds(400), await DropAfterAsync(TimeSpan.FromMilliseconds(10), 3));
        // ... one that was up for healthy_after starts it afresh.
        Assert.Equal(TimeSpan.FromMilliseconds(100), await DropAfterAsync(TimeSpan.FromSeconds(2), 4));
        Assert.Equal(TimeSpan.FromMilliseconds(200), await DropAfterAsync(TimeSpan.FromMilliseconds(10), 5));
    }

    /// <summary>A client of <paramref name="server"/> on fake time that drops a connection silent for 200 ms and dials again 10 ms after a loss.</summary>
    private TcpClientStage IdleClientOf(FerryTestServer server, StageTime time) => new(new TcpClientStageOptions
    {
        Connect = server.EndPoint.ToString(),
        IdleTimeout = TimeSpan.FromMilliseconds(200),
        ReconnectWait = TimeSpan.FromMilliseconds(10),
    }.On(Transport), timeProvider: time);

    [Fact]
    public async Task A_connection_that_ends_is_announced_with_its_disconnect_reason_and_attempt_0()
    {
        // Before: "attempt":0, "reason":"connection lost" whatever ended it; the why was only on the disconnected line.
        await using var server = new FerryTestServer(new TcpServerStageOptions().On(Transport));
        await server.StartAsync();
        var time = new StageTime();
        await using var client = IdleClientOf(server, time);
        var rec = new ClientRecorder(client);
        await client.ConnectAsync(new CancellationTokenSource(TimeSpan.FromSeconds(10)).Token);

        // The server closes it.
        var first = (await server.WaitForEventAsync<ConnectedEvent>(_ => true)).ConnectionId;
        Assert.True(server.Stage.Close(first));
        var closed = await rec.WaitBackingOffAsync(1);
        Assert.Equal((0, $"connection to {server.EndPoint} ended (remote_closed)", false), (closed.Attempt, closed.Reason, closed.GivingUp));
        AdvanceBy(time, closed);
        await Poll.UntilAsync(() => rec.Events.OfType<ConnectedEvent>().Count() == 2, "the second connection");
        // The count starts again: the next attempt is number 1.
        Assert.Equal(1, rec.Events.OfType<ConnectingEvent>().Last().Attempt);

        // The client's own idle timeout ends it.
        time.Advance(TimeSpan.FromMilliseconds(200 + 25));
        var idle = await rec.WaitBackingOffAsync(2);
        Assert.Equal((0, $"connection to {server.EndPoint} ended (idle_timeout: nothing received for 200 ms)"), (idle.Attempt, idle.Reason));
        AdvanceBy(time, idle);
        await Poll.UntilAsync(() => rec.Events.OfType<ConnectedEvent>().Count() == 3, "the third connection");

        // A forced reconnect: the detail given comes with the reason.
        Assert.True(client.Reconnect("config changed"));
        var killed = await rec.WaitBackingOffAsync(3);
        Assert.Equal((0, $"connection to {server.EndPoint} ended (killed: config changed)"), (killed.Attempt, killed.Reason));
        // Each says what the disconnected event before it said.
        var disconnects = rec.Events.OfType<DisconnectedEvent>().ToList();
        Assert.Equal(disconnects.Select(d => $"connection to {d.Peer} ended ({(d.Detail is null ? d.ReasonName : $"{d.ReasonName}: {d.Detail}")})"),
            rec.Failures.Select(f => f.Reason));
    }

    [Fact]
    public async Task Idle_timeout_forces_a_reconnect()
    {
        await using var server = new FerryTestServer(new TcpServerStageOptions().On(Transport));
        await server.StartAsync();
        var time = new StageTime();
        await using var client = IdleClientOf(server, time);
        var rec = new ClientRecorder(client);
        await client.ConnectAsync(new CancellationTokenSource(TimeSpan.FromSeconds(10)).Token);

        time.Advance(TimeSpan.FromMilliseconds(199));
        await time.SettleAsync(client);
        Assert.Empty(rec.Events.OfType<DisconnectedEvent>());
        time.Advance(TimeSpan.FromMilliseconds(1 + 25)); // past the timeout, plus one scan interval (200 ms / 8)
        var dropped = await Task.Run(async () =>
        {
            await Poll.UntilAsync(() => rec.Events.OfType<DisconnectedEvent>().Any(), "an idle disconnect");
            return rec.Events.OfType<DisconnectedEvent>().First();
        });
        Assert.Equal(DisconnectReason.IdleTimeout, dropped.Reason);
        AdvanceBy(time, await rec.WaitBackingOffAsync(1));
        await Poll.UntilAsync(() => rec.Events.OfType<ConnectedEvent>().Count() >= 2, "a second connection");
    }

    [Fact]
    public async Task Egress_is_held_while_disconnected_and_delivered_after()
    {
        var port = FreePorts.One();
        var time = new StageTime();
        await using var client = new TcpClientStage(new TcpClientStageOptions
        {
            Connect = $"127.0.0.1:{port}",
            ReconnectWait = TimeSpan.FromMilliseconds(20),
            ReconnectMaxWait = TimeSpan.FromMilliseconds(50),
            EgressBufferBytes = 10,
        }.On(Transport), timeProvider: time);
        var rec = new ClientRecorder(client);
        client.Start();
        Assert.True(await client.SendAsync("abcd"u8.ToArray()));
        Assert.True(await client.SendAsync("efgh"u8.ToArray()));
        Assert.True(await client.SendAsync("ijkl"u8.ToArray())); // 12 bytes held > 10: the oldest goes
        Assert.Equal(1, client.GetStats().EgressPacketsDroppedTotal);
        // The first attempt has failed before the server listens: started first, it could be taken by a dial that came late.
        var backingOff = await rec.WaitBackingOffAsync(1);

        await using var server = new FerryTestServer(new TcpServerStageOptions { Bind = $"127.0.0.1:{port}" }.On(Transport));
        await server.StartAsync();
        AdvanceBy(time, backingOff);
        var packets = await server.WaitForPacketsAsync(p => p.Sum(x => x.Payload.Length) >= 8, "the held messages");
        Assert.Equal("efghijkl", Encoding.ASCII.GetString(packets.SelectMany(p => p.Payload).ToArray()));
    }

    [Fact]
    public async Task Held_egress_is_bounded_by_its_encoded_size_so_all_of_it_fits_the_egress_buffer_and_empty_messages_count()
    {
        // Before: the bound counted payload bytes only. With lines framing the held "abcd", "efgh", "ij" (10 bytes of
        // payload, 13 encoded) were all kept, and the newest was then dropped at delivery by the 10-byte egress buffer;
        // and empty messages cost nothing, so any number of them was held.
        var port = FreePorts.One();
        var time = new StageTime();
        await using var client = new TcpClientStage(new TcpClientStageOptions
        {
            Connect = $"127.0.0.1:{port}",
            Framing = FramingSpec.Parse("lines"),
            ReconnectWait = TimeSpan.FromMilliseconds(20),
            EgressBufferBytes = 10,
        }.On(Transport), timeProvider: time);
        var rec = new ClientRecorder(client);
        client.Start();
        for (var i = 0; i < 20; i++)
            Assert.True(await client.SendAsync(ReadOnlyMemory<byte>.Empty));
        Assert.Equal(10, client.GetStats().EgressPacketsDroppedTotal); // each "\n" takes a byte of the 10
        Assert.True(await client.SendAsync("abcd"u8.ToArray()));
        Assert.True(await client.SendAsync("efgh"u8.ToArray()));
        Assert.True(await client.SendAsync("ij"u8.ToArray())); // 13 encoded bytes > 10: the oldest held go
        Assert.Equal(21, client.GetStats().EgressPacketsDroppedTotal);
        // The first attempt has failed before the server listens: started first, it could be taken by a dial that came late.
        var backingOff = await rec.WaitBackingOffAsync(1);

        await using var server = new FerryTestServer(new TcpServerStageOptions { Bind = $"127.0.0.1:{port}", Framing = FramingSpec.Parse("lines") }.On(Transport));
        await server.StartAsync();
        AdvanceBy(time, backingOff);
        var packets = await server.WaitForPacketsAsync(p => p.Count >= 2, "the held messages");
        Assert.Equal(["efgh", "ij"], packets.Select(p => Encoding.ASCII.GetString(p.Payload)));
        Assert.Equal(21, client.GetStats().EgressPacketsDroppedTotal);
    }

    [Fact]
    public async Task Egress_held_when_the_stage_stops_is_counted_as_dropped()
    {
        // Before: what was held when the stage stopped vanished uncounted, though SendAsync had said it was taken.
        var port = FreePorts.One();
        var time = new StageTime();
        var client = new TcpClientStage(new TcpClientStageOptions { Connect = $"127.0.0.1:{port}" }.On(Transport), timeProvider: time);
        var rec = new ClientRecorder(client);
        client.Start();
        await rec.WaitBackingOffAsync(1);
        Assert.True(await client.SendAsync("abcd"u8.ToArray()));
        Assert.True(await client.SendAsync("efg"u8.ToArray()));
        await client.DisposeAsync();
        var stats = client.GetStats();
        Assert.Equal(2, stats.EgressPacketsDroppedTotal);
        Assert.Equal(7, stats.EgressBytesDroppedTotal);
    }

    [Fact]
    public async Task A_client_that_gives_up_lets_its_held_egress_go_counted_as_dropped_and_holds_nothing_more()
    {
        var port = FreePorts.One(); // nobody listens: every attempt is refused
        var time = new StageTime();
        await using var client = new TcpClientStage(new TcpClientStageOptions
        {
            Connect = $"127.0.0.1:{port}",
            EgressWhileDisconnected = DisconnectedEgressPolicy.Hold,
            ReconnectWait = TimeSpan.FromMilliseconds(20),
            ReconnectMaxWait = TimeSpan.FromMilliseconds(50),
            ReconnectAttempts = 3,
        }.On(Transport), timeProvider: time);
        var rec = new ClientRecorder(client);
        client.Start();
        Assert.True(await client.SendAsync("abcd"u8.ToArray()));
        Assert.True(await client.SendAsync("efgh"u8.ToArray()));
        Assert.Equal(0, client.GetStats().EgressPacketsDroppedTotal);

        AdvanceBy(time, await rec.WaitBackingOffAsync(1));
        AdvanceBy(time, await rec.WaitBackingOffAsync(2));
        var last = await rec.WaitBackingOffAsync(3);
        Assert.True(last.GivingUp);
        // Before the fix both stayed held, uncounted, until the stage was disposed.
        var stats = client.GetStats();
        Assert.Equal(2, stats.EgressPacketsDroppedTotal);
        Assert.Equal(8, stats.EgressBytesDroppedTotal);

        // Nothing is held any more, whichever way it comes.
        Assert.False(await client.SendAsync("ijkl"u8.ToArray()));
        await client.Bus.Topic<EgressMessage>(StageTopics.EgressPackets(client.Name)).PublishAsync(EgressMessage.ToAll("mnop"u8.ToArray()));
        Assert.Equal(4, client.GetStats().EgressPacketsDroppedTotal);
        Assert.Equal(16, client.GetStats().EgressBytesDroppedTotal);
    }

    [Fact]
    public async Task Concurrent_ConnectAsync_calls_start_the_stage_once_and_all_get_the_connection()
    {
        // Review S1: ConnectAsync's "start if needed" was check-then-act, so two first callers could both start
        // and the second throw "already started". Two callers released together by a barrier, many times.
        await using var server = new FerryTestServer(new TcpServerStageOptions().On(Transport), recordPackets: false);
        await server.StartAsync();
        for (var round = 0; round < 20; round++)
        {
            await using var client = new TcpClientStage(new TcpClientStageOptions { Connect = server.EndPoint.ToString() }.On(Transport));
            using var barrier = new Barrier(2);
            using var patience = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            var callers = Enumerable.Range(0, 2).Select(_ => Task.Run(async () =>
            {
                barrier.SignalAndWait(patience.Token);
                return await client.ConnectAsync(patience.Token);
            })).ToArray();
            var remotes = await Task.WhenAll(callers);
            Assert.All(remotes, remote => Assert.Equal(server.EndPoint.Port, remote.Port));
        }
    }

    [Fact]
    public async Task The_drop_policy_drops_and_counts_egress_while_disconnected()
    {
        var port = FreePorts.One();
        var time = new StageTime();
        await using var client = new TcpClientStage(new TcpClientStageOptions
        {
            Connect = $"127.0.0.1:{port}",
            EgressWhileDisconnected = DisconnectedEgressPolicy.Drop,
            ReconnectWait = TimeSpan.FromMilliseconds(20),
            ReconnectMaxWait = TimeSpan.FromMilliseconds(50),
        }.On(Transport), timeProvider: time);
        var rec = new ClientRecorder(client);
        client.Start();
        Assert.False(await client.SendAsync("lost"u8.ToArray()));
        Assert.Equal(1, client.GetStats().EgressPacketsDroppedTotal);
        // The first attempt has failed before the server listens: started first, it could be taken by a dial that came late.
        var backingOff = await rec.WaitBackingOffAsync(1);
        await using var server = new FerryTestServer(new TcpServerStageOptions { Bind = $"127.0.0.1:{port}" }.On(Transport));
        await server.StartAsync();
        AdvanceBy(time, backingOff);
        await client.WaitConnectedAsync(new CancellationTokenSource(TimeSpan.FromSeconds(10)).Token);
        await client.SendAsync("kept"u8.ToArray());
        var packets = await server.WaitForPacketsAsync(p => p.Count >= 1, "a message");
        Assert.Equal("kept", Encoding.ASCII.GetString(packets[0].Payload));
    }

    [Fact]
    public async Task A_connect_that_gets_no_answer_times_out()
    {
        // A listener whose accept queue is full and never drained: the kernel drops further SYNs.
        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen(0);
        var endPoint = (IPEndPoint)listener.LocalEndPoint!;
        var fillers = new List<Socket>();
        for (var i = 0; i < 8; i++)
        {
            var s = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { Blocking = false };
            try { s.Connect(endPoint); } catch (SocketException) { }
            fillers.Add(s);
        }

        var time = new StageTime();
        await using var client = new TcpClientStage(new TcpClientStageOptions
        {
            Connect = endPoint.ToString(),
            ConnectTimeout = TimeSpan.FromMilliseconds(300),
            ReconnectWait = TimeSpan.FromMilliseconds(10),
            ReconnectAttempts = 1,
        }.On(Transport), timeProvider: time);
        var rec = new ClientRecorder(client);
        var connecting = client.ConnectAsync(new CancellationTokenSource(TimeSpan.FromSeconds(10)).Token);
        await Poll.UntilAsync(() => rec.Events.OfType<ConnectingEvent>().Any(), "the attempt");
        time.Advance(TimeSpan.FromMilliseconds(299));
        await time.SettleAsync(client);
        Assert.Empty(rec.Failures); // the connect is still waiting for an answer
        Assert.False(connecting.IsCompleted);
        time.Advance(TimeSpan.FromMilliseconds(1));
        var failure = await Assert.ThrowsAsync<IOException>(() => connecting);
        Assert.Contains("gave up", failure.Message);
        var failed = rec.Events.OfType<ConnectFailedEvent>().Single();
        Assert.Contains("connect_timeout 300 ms", failed.Reason);
        Assert.True(failed.GivingUp);
        fillers.ForEach(s => s.Dispose());
    }

    [Fact]
    public async Task Host_names_are_resolved()
    {
        await using var server = new FerryTestServer(new TcpServerStageOptions().On(Transport));
        await server.StartAsync();
        await using var client = new TcpClientStage(new TcpClientStageOptions { Connect = $"localhost:{server.EndPoint.Port}" }.On(Transport));
        var remote = await client.ConnectAsync(new CancellationTokenSource(TimeSpan.FromSeconds(10)).Token);
        Assert.Equal(IPAddress.Loopback, remote.Address);
    }

    [Fact]
    public async Task A_name_with_several_addresses_is_dialled_at_each_in_turn_until_one_answers()
    {
        // Before: only the name's first IPv4 address was ever dialled, so a name whose first host is down never connected.
        var port = FreePorts.One();
        var time = new StageTime();
        await using var client = new TcpClientStage(new TcpClientStageOptions
        {
            Connect = $"service.test:{port}",
            ReconnectWait = TimeSpan.FromMilliseconds(100),
            ReconnectJitter = 0,
        }.On(Transport), timeProvider: time);
        var asked = new ConcurrentQueue<string>();
        client.Dialer.ResolveHost = (host, _) =>
        {
            asked.Enqueue(host);
            return Task.FromResult(new[] { IPAddress.Parse("127.0.0.2"), IPAddress.Parse("127.0.0.3") });
        };
        var rec = new ClientRecorder(client);
        client.Start();
        // Nothing listens on either: one attempt, one failure that names both addresses.
        var failure = await rec.WaitBackingOffAsync(1);
        Assert.Contains($"127.0.0.2:{port}", failure.Reason);
        Assert.Contains($"127.0.0.3:{port}", failure.Reason);
        Assert.Single(rec.Events.OfType<ConnectingEvent>());

        // The second address comes up: the next attempt reaches it, past the first one that still refuses.
        await using var server = new FerryTestServer(new TcpServerStageOptions { Bind = $"127.0.0.3:{port}" }.On(Transport));
        await server.StartAsync();
        AdvanceBy(time, failure);
        var remote = await client.WaitConnectedAsync(new CancellationTokenSource(TimeSpan.FromSeconds(10)).Token);
        Assert.Equal(new IPEndPoint(IPAddress.Parse("127.0.0.3"), port), remote);
        Assert.Single(rec.Failures);
        Assert.Equal(["service.test", "service.test"], asked);
    }

    [Fact]
    public async Task A_resolver_that_does_not_answer_fails_the_attempt_at_connect_timeout_and_does_not_hold_up_the_stop()
    {
        // Before: the name was resolved on the service thread, blocking it (no timeout, no stats, no stop) while the resolver hung.
        var time = new StageTime();
        var client = new TcpClientStage(new TcpClientStageOptions
        {
            Connect = "slow.test:9000",
            ConnectTimeout = TimeSpan.FromMilliseconds(300),
            ReconnectWait = TimeSpan.FromSeconds(1),
            ReconnectJitter = 0,
        }.On(Transport), timeProvider: time);
        var cancelled = 0;
        client.Dialer.ResolveHost = (_, ct) =>
        {
            ct.Register(() => Interlocked.Increment(ref cancelled));
            return new TaskCompletionSource<IPAddress[]>().Task; // never answers
        };
        var rec = new ClientRecorder(client);
        client.Start();
        await Poll.UntilAsync(() => rec.Events.OfType<ConnectingEvent>().Any(), "the attempt");
        time.Advance(TimeSpan.FromMilliseconds(299));
        await time.SettleAsync(client); // the loop goes round while the resolver is out
        Assert.Empty(rec.Failures);
        time.Advance(TimeSpan.FromMilliseconds(1));
        var failure = await rec.WaitBackingOffAsync(1);
        Assert.Equal("cannot resolve 'slow.test': no answer from the resolver within connect_timeout 300 ms", failure.Reason);
        Assert.Equal(1, Volatile.Read(ref cancelled));

        // The next attempt hangs too; a stop does not wait for it.
        time.Advance(failure.RetryIn);
        await Poll.UntilAsync(() => rec.Events.OfType<ConnectingEvent>().Count() == 2, "the second attempt");
        var stopping = client.DisposeAsync().AsTask();
        await Poll.UntilAsync(() => stopping.IsCompleted, "the stop");
        await stopping;
        Assert.Equal(2, Volatile.Read(ref cancelled));
    }

    [Fact]
    public async Task A_server_that_hangs_up_during_a_session_handshake_is_a_failed_attempt_counted_against_reconnect_attempts()
    {
        // Before: "connection lost" with attempt 0 (the TCP connect counted as success), and reconnect_attempts never ran out.
        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen(8);
        var endPoint = (IPEndPoint)listener.LocalEndPoint!;
        _ = Task.Run(async () =>
        {
            while (true)
            {
                try { (await listener.AcceptAsync()).Dispose(); }
                catch (Exception) { return; }
            }
        });
        var time = new StageTime();
        await using var client = new TcpClientStage(new TcpClientStageOptions
        {
            Connect = endPoint.ToString(),
            Framing = FramingSpec.Parse("zmtp,socket=push"),
            ReconnectAttempts = 2,
            ReconnectWait = TimeSpan.FromMilliseconds(100),
            ReconnectJitter = 0,
        }.On(Transport), timeProvider: time);
        var rec = new ClientRecorder(client);
        var connecting = client.ConnectAsync(new CancellationTokenSource(TimeSpan.FromSeconds(10)).Token);
        var first = await rec.WaitBackingOffAsync(1);
        Assert.Equal(1, first.Attempt);
        Assert.StartsWith($"connection to {endPoint} ended before it was ready (", first.Reason);
        Assert.False(first.GivingUp);
        Assert.Empty(rec.Events.OfType<ConnectedEvent>());

        time.Advance(first.RetryIn);
        await Assert.ThrowsAsync<IOException>(() => connecting);
        Assert.Equal([1, 2], rec.Failures.Select(f => f.Attempt));
        Assert.True(rec.Failures.Last().GivingUp);
    }

    [Fact]
    public async Task Connected_and_disconnected_handlers_see_the_state_their_event_announces()
    {
        // Before: inside Connected, IsConnected was false and ConnectionId None (the dialler learnt of the connection only
        // after the event); inside Disconnected, IsConnected was still true with the closed connection's id.
        await using var server = new FerryTestServer(new TcpServerStageOptions().On(Transport));
        await server.StartAsync();
        await using var client = new TcpClientStage(new TcpClientStageOptions { Connect = server.EndPoint.ToString() }.On(Transport), timeProvider: new StageTime()); // fake time: no reconnect
        var seen = new ConcurrentQueue<string>();
        // And (session 17) inside Disconnected, WaitConnectedAsync still completed at once: a sender that waited for the
        // next connection on hearing of the loss went on at once and read ConnectionId None (the FileTransfer example's
        // hang); inside Connected it was not complete yet.
        client.Connected += (_, e) => seen.Enqueue($"connected: {client.IsConnected} {client.ConnectionId == e.ConnectionId} {client.RemoteEndPoint?.Port == server.EndPoint.Port} {client.WaitConnectedAsync().IsCompleted}");
        client.Disconnected += (_, e) => seen.Enqueue($"disconnected: {client.IsConnected} {client.ConnectionId.IsNone} {client.RemoteEndPoint is null} {client.WaitConnectedAsync().IsCompleted}");
        await client.ConnectAsync(new CancellationTokenSource(TimeSpan.FromSeconds(10)).Token);
        Assert.True(client.Reconnect("rotate"));
        await Poll.UntilAsync(() => seen.Count == 2, "both events");
        Assert.Equal(["connected: True True True True", "disconnected: False True True False"], seen);
        Assert.False(client.WaitConnectedAsync().IsCompleted);
        Assert.False(client.IsConnected);
    }

    [Fact]
    public async Task A_caller_of_ConnectAsync_resumes_after_the_Connected_handlers_have_run()
    {
        // Between 38a1928 and its fix the wait completed before Connected was raised (so that a handler found it complete),
        // and a caller of ConnectAsync could resume while the handlers still ran and miss what they record.
        await using var server = new FerryTestServer(new TcpServerStageOptions().On(Transport));
        await server.StartAsync();
        await using var client = new TcpClientStage(new TcpClientStageOptions { Connect = server.EndPoint.ToString() }.On(Transport), timeProvider: new StageTime());
        using var release = new ManualResetEventSlim();
        var handlerDone = false;
        client.Connected += (_, _) =>
        {
            release.Wait(TimeSpan.FromSeconds(10));
            Volatile.Write(ref handlerDone, true);
        };
        var connecting = client.ConnectAsync(new CancellationTokenSource(TimeSpan.FromSeconds(20)).Token);
        await Poll.UntilAsync(() => client.IsConnected, "the connection in the table");   // the handler is blocked now
        Assert.True(client.WaitConnectedAsync().IsCompleted, "asked while connected, the wait is complete");
        Assert.False(connecting.IsCompleted, "the caller waits for the Connected handlers");
        release.Set();
        await connecting;
        Assert.True(Volatile.Read(ref handlerDone));
    }

    [Fact]
    public async Task A_caller_told_that_the_stage_stopped_before_it_connected_finds_it_stopped()
    {
        // Before: the wait was cancelled inside the loop's end, before the Closed event and the release of the stage's name,
        // so the caller it woke could find StopAsync not complete and a new stage of the same name refused.
        var bus = new InProcessBus();
        var time = new StageTime();   // the retry never comes
        var client = new TcpClientStage(new TcpClientStageOptions { Name = "stopped_early", Connect = $"127.0.0.1:{FreePorts.One()}" }.On(Transport), bus, timeProvider: time);
        var rec = new ClientRecorder(client);
        string? inClosed = null;
        client.Closed += (_, _) => Volatile.Write(ref inClosed, $"closed: {client.WaitConnectedAsync().IsCompleted}");
        client.Start();
        await rec.WaitBackingOffAsync(1);
        var waiting = client.WaitConnectedAsync();
        _ = client.StopAsync();
        var ended = await Assert.ThrowsAnyAsync<OperationCanceledException>(() => waiting.WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.Contains("stopped", ended.Message);
        Assert.True(client.StopAsync().IsCompleted, "the stage has stopped when the wait is cancelled");
        Assert.Equal("closed: False", Volatile.Read(ref inClosed));
        await using var next = new TcpClientStage(new TcpClientStageOptions { Name = "stopped_early", Connect = "127.0.0.1:1" }.On(Transport), bus);
        Assert.True(client.WaitConnectedAsync().IsCanceled, "asked after the stop, the wait ends at once");
        await client.DisposeAsync();
    }

    [Fact]
    public async Task A_giving_up_handler_finds_the_wait_for_a_connection_failed()
    {
        // Before: ConnectFailed (GivingUp) and the give-up Error were raised before the wait failed, so a handler of either
        // found WaitConnectedAsync still pending, for a connection that will never come.
        var time = new StageTime();
        await using var client = new TcpClientStage(new TcpClientStageOptions
        {
            Connect = $"127.0.0.1:{FreePorts.One()}",
            ReconnectAttempts = 1,
        }.On(Transport), timeProvider: time);
        string? seen = null;
        client.ConnectFailed += (_, e) =>
        {
            if (e.GivingUp)
                Volatile.Write(ref seen, $"{client.WaitConnectedAsync().IsFaulted}");
        };
        var connecting = client.ConnectAsync(new CancellationTokenSource(TimeSpan.FromSeconds(10)).Token);
        var failure = await Assert.ThrowsAsync<IOException>(() => connecting);
        Assert.Contains("gave up", failure.Message);
        Assert.Equal("True", Volatile.Read(ref seen));   // and the caller resumed after the handler
        Assert.Equal(failure.Message, (await Assert.ThrowsAsync<IOException>(() => client.WaitConnectedAsync())).Message);
    }

    [Fact]
    public async Task Readiness_can_be_awaited_with_a_timeout_and_queried()
    {
        var port = FreePorts.One();
        var time = new StageTime();
        await using var client = new TcpClientStage(new TcpClientStageOptions { Connect = $"127.0.0.1:{port}", ReconnectWait = TimeSpan.FromMilliseconds(20) }.On(Transport), timeProvider: time);
        client.Start();
        using var patience = new CancellationTokenSource(TimeSpan.FromMilliseconds(100), time);
        var waiting = client.WaitConnectedAsync(patience.Token);
        time.Advance(TimeSpan.FromMilliseconds(100));
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => waiting);
        Assert.False(client.IsConnected);
        Assert.True(client.ConnectionId.IsNone);
    }

    [Fact]
    public async Task Control_close_forces_a_reconnect()
    {
        await using var server = new FerryTestServer(new TcpServerStageOptions().On(Transport));
        await server.StartAsync();
        var time = new StageTime();
        await using var client = new TcpClientStage(new TcpClientStageOptions { Connect = server.EndPoint.ToString(), ReconnectWait = TimeSpan.FromMilliseconds(10) }.On(Transport), timeProvider: time);
        var rec = new ClientRecorder(client);
        await client.ConnectAsync(new CancellationTokenSource(TimeSpan.FromSeconds(10)).Token);
        var first = client.ConnectionId;
        await client.Bus.Topic<ControlCommand>(StageTopics.Control(client.Name)).PublishAsync(ControlCommand.Close(first, "rotate"));
        AdvanceBy(time, await rec.WaitBackingOffAsync(1));
        await Poll.UntilAsync(() => client.IsConnected && client.ConnectionId != first, "a new connection");
        Assert.Equal(DisconnectReason.Killed, rec.Events.OfType<DisconnectedEvent>().Single().Reason);
    }

    [Theory]
    [InlineData(DisconnectedEgressPolicy.Hold)]
    [InlineData(DisconnectedEgressPolicy.Drop)]
    public async Task A_send_bound_to_a_connection_never_reaches_the_next_one(DisconnectedEgressPolicy whileDisconnected)
    {
        // A protocol whose connections each start with a greeting (the FileTransfer example's file_start) must not have a
        // message of a dropped connection open the next one: SendAsync goes to whichever connection is current (or is held
        // for the next), SendToConnectionAsync to the one named or nowhere.
        await using var server = new FerryTestServer(new TcpServerStageOptions { Framing = FramingSpec.Parse("lines") }.On(Transport));
        await server.StartAsync();
        var time = new StageTime();
        await using var client = new TcpClientStage(new TcpClientStageOptions
        {
            Connect = server.EndPoint.ToString(),
            Framing = FramingSpec.Parse("lines"),
            EgressWhileDisconnected = whileDisconnected,
            ReconnectWait = TimeSpan.FromMilliseconds(10),
        }.On(Transport), timeProvider: time);
        var rec = new ClientRecorder(client);
        await client.ConnectAsync(new CancellationTokenSource(TimeSpan.FromSeconds(10)).Token);
        var first = client.ConnectionId;
        Assert.True(await client.SendToConnectionAsync(first, "one"u8.ToArray()));
        await server.WaitForPacketAsync(p => p.Text == "one");

        Assert.True(client.Reconnect("rotate"));
        var backingOff = await rec.WaitBackingOffAsync(1);
        Assert.False(await client.SendToConnectionAsync(first, "stale while disconnected"u8.ToArray()));   // not held either
        time.Advance(backingOff.RetryIn);
        await Poll.UntilAsync(() => client.IsConnected, "the next connection");
        var second = client.ConnectionId;
        Assert.NotEqual(first, second);
        Assert.False(await client.SendToConnectionAsync(first, "stale after the reconnect"u8.ToArray()));
        Assert.True(await client.SendToConnectionAsync(second, "two"u8.ToArray()));

        await server.WaitForPacketAsync(p => p.Text == "two");
        Assert.Equal(["one", "two"], server.Packets.Select(p => p.Text));
        Assert.Equal(2, client.GetStats().EgressUnknownTargetTotal);
    }

    [Fact]
    public void Invalid_options_are_reported_together()
    {
        var ex = Assert.Throws<StageOptionsException>(() => new TcpClientStage(new TcpClientStageOptions
        {
            Connect = ":80",
            ReconnectJitter = 2,
            ConnectTimeout = TimeSpan.Zero,
        }.On(Transport)));
        Assert.Equal(3, ex.Problems.Count);
        Assert.Contains(ex.Problems, p => p.StartsWith("TcpClientStageOptions.Connect"));
    }

    public static TheoryData<string> Specs => FramedStageTests.Specs;

    [Theory]
    [MemberData(nameof(Specs))]
    public async Task A_client_stage_and_a_server_stage_talk_in_every_framing(string spec)
    {
        var framing = FramingSpec.Parse(spec);
        var bus = new InProcessBus();
        await using var server = new TcpServerStage(new TcpServerStageOptions { Bind = "127.0.0.1:0", Framing = framing }.On(Transport), bus);
        // The server echoes every packet with its header fields.
        bus.Topic<PacketGroup>("tcp_server/packet_group").Subscribe(async (g, ct) =>
        {
            foreach (var p in g)
                await bus.Topic<EgressMessage>("tcp_server/egress_packets").PublishAsync(EgressMessage.To(p.ConnectionId, p.Payload, p.Fields), ct);
        });
        var endPoint = await server.StartAsync();
        await using var client = new TcpClientStage(new TcpClientStageOptions { Connect = endPoint.ToString(), Framing = framing }.On(Transport), bus);
        var received = new ConcurrentQueue<(byte[] Payload, FrameFields Fields)>();
        bus.Topic<PacketGroup>("tcp_client/packet_group").Subscribe((g, _) =>
        {
            foreach (var p in g)
                received.Enqueue((p.Payload.ToArray(), p.Fields));
            return default;
        });
        await client.ConnectAsync(new CancellationTokenSource(TimeSpan.FromSeconds(10)).Token);

        var sent = new List<(byte[] Payload, FrameFields Fields)>();
        for (var i = 0; i < 20; i++)
        {
            var payload = Encoding.ASCII.GetBytes(framing is FixedFraming ? $"message {i,8}" : $"message {i}");
            var fields = framing switch
            {
                HeaderFraming => new FrameFields((ushort)(i + 1), (ushort)(i * 3)),
                MuxFraming => new FrameFields(StreamId: (uint)(i + 1)),
                _ => default,
            };
            sent.Add((payload, fields));
            Assert.True(await client.SendAsync(payload, fields));
        }
        if (framing is DelimiterFraming { Position: DelimiterPosition.Prefix })
            await client.SendAsync("end"u8.ToArray()); // a prefix frame ends where the next begins
        await Poll.UntilAsync(() => received.Count >= 19, "the echoes");
        var echoes = received.ToList();
        var include = framing is DelimiterFraming { IncludeDelimiter: true };
        for (var i = 0; i < echoes.Count && i < 20; i++)
        {
            if (!include)
                Assert.Equal(sent[i].Payload, echoes[i].Payload);
            Assert.Equal(sent[i].Fields, echoes[i].Fields);
        }
    }
}
