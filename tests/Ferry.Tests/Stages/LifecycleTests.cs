using Ferry.Transport;
using Ferry.Connections;
using Ferry.Stages;
using Ferry.Tests.Support;

namespace Ferry.Tests.Stages;

public abstract class LifecycleTests(StageTransport transport)
{
    /// <summary>These tests on the epoll transport.</summary>
    public sealed class OnEpoll() : LifecycleTests(StageTransport.Epoll);

    /// <summary>These tests on the portable stream transport.</summary>
    public sealed class OnStream() : LifecycleTests(StageTransport.Stream);

    private StageTransport Transport => transport;

    [Fact]
    public async Task Connected_and_disconnected_handlers_see_the_state_their_event_announces()
    {
        // Session 17, checked (no defect): the connection is in the table and established before Connected is raised, and
        // out of the table, out of its groups and counted closed before Disconnected is. A Connected handler can greet the
        // connection and put it in a group; a Disconnected handler finds it gone everywhere.
        await using var h = new FerryTestServer(new TcpServerStageOptions().On(Transport));
        var stage = h.Stage;
        var seen = new System.Collections.Concurrent.ConcurrentQueue<string>();
        string Stats()
        {
            var stats = stage.GetStats();
            return $"open {stats.ConnectionsNow} {stage.ConnectionCount} accepted {stats.AcceptedTotal} closed {stats.ClosedTotal}";
        }
        stage.Connected += (_, e) =>
        {
            var greeting = stage.SendAsync(e.ConnectionId, "hello"u8.ToArray());
            seen.Enqueue($"connected: listed {stage.GetConnections().Any(c => c.Id == e.ConnectionId)} " +
                $"send {greeting.IsCompletedSuccessfully && greeting.Result} join {stage.JoinGroup(e.ConnectionId, "room")} {Stats()}");
        };
        stage.Disconnected += (_, e) =>
        {
            var late = stage.SendAsync(e.ConnectionId, "late"u8.ToArray());
            seen.Enqueue($"disconnected: listed {stage.GetConnections().Any(c => c.Id == e.ConnectionId)} " +
                $"send {late.IsCompletedSuccessfully && late.Result} join {stage.JoinGroup(e.ConnectionId, "room")} " +
                $"groups [{string.Join(",", stage.GetGroupsOf(e.ConnectionId))}] members {stage.GetGroupMembers("room").Count} " +
                $"close {stage.Close(e.ConnectionId)} left [{string.Join(",", e.Groups)}] {Stats()}");
        };
        await h.StartAsync();
        await using (var client = await h.ConnectAsync())
            Assert.Equal("hello"u8.ToArray(), await client.ReceiveExactlyAsync(5));
        await Poll.UntilAsync(() => seen.Count == 2, "both events");
        Assert.Equal([
            "connected: listed True send True join True open 1 1 accepted 1 closed 0",
            "disconnected: listed False send False join False groups [] members 0 close False left [room] open 0 0 accepted 1 closed 1",
        ], seen);
    }

    [Fact]
    public async Task A_client_that_shuts_down_its_side_still_gets_everything_queued_for_it_then_the_close()
    {
        // Request, shutdown(SHUT_WR), read the answer: what the stage had queued when the FIN came is
        // written before the connection closes, not thrown away.
        await using var h = new FerryTestServer(new TcpServerStageOptions
        {
            Socket = new TcpSocketOptions { SendBufferSize = 4096 },
        }.On(Transport), recordPackets: false);
        var egress = h.Bus.Topic<EgressMessage>(StageTopics.EgressPackets(h.Stage.Name));
        using var echo = h.Bus.Topic<PacketGroup>(StageTopics.PacketGroup(h.Stage.Name)).Subscribe(async (group, ct) =>
        {
            foreach (var packet in group)
                await egress.PublishAsync(EgressMessage.To(packet.ConnectionId, packet.Payload), ct);
        });
        await h.StartAsync();
        using var client = new System.Net.Sockets.Socket(System.Net.Sockets.AddressFamily.InterNetwork,
            System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Tcp) { ReceiveBufferSize = 4096 };
        await client.ConnectAsync(h.EndPoint);
        var id = (await h.WaitForConnectionAsync((System.Net.IPEndPoint)client.LocalEndPoint!)).ConnectionId;

        const int total = 512 * 1024;
        var request = new byte[total];
        new Random(7).NextBytes(request);
        await client.SendAsync(request, System.Net.Sockets.SocketFlags.None);
        // Everything has been read and the whole echo handed to the stage (written or queued), the queue kept non-empty by the
        // unread client. The echo goes through the bus after the read: BytesIn alone, or a first echo queued, does not mean the
        // rest is. A FIN before it all came is served as documented (half_close_linger 0): what is queued is written, then the
        // connection closes, and echo that comes after that is refused (half_close_linger is for answers that come later).
        await Poll.UntilAsync(() => h.Stage.GetConnections().SingleOrDefault(c => c.Id == id) is { BytesIn: total, EgressBytesQueued: > 0 } info
                && info.BytesOut + info.EgressBytesQueued == total,
            "the request read and its whole echo queued",
            seen: () => h.Stage.GetConnections().SingleOrDefault(c => c.Id == id) is { } info
                ? $"in {info.BytesIn}, out {info.BytesOut}, queued {info.EgressBytesQueued}" : "no connection");
        client.Shutdown(System.Net.Sockets.SocketShutdown.Send);

        var answer = new byte[total + 1];
        var got = 0;
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        while (true)
        {
            var n = await client.ReceiveAsync(answer.AsMemory(got), System.Net.Sockets.SocketFlags.None, deadline.Token);
            if (n == 0)
                break;
            got += n;
        }
        Assert.Equal(total, got);
        Assert.Equal(request, answer.AsSpan(0, total).ToArray());
        Assert.Equal(DisconnectReason.RemoteClosed, (await h.WaitForDisconnectAsync(id)).Reason);
        Assert.Equal(0, h.Stage.GetStats().EgressBytesDroppedTotal);
    }

    [Fact]
    public async Task Egress_lost_with_its_connection_is_counted_as_dropped()
    {
        await using var h = new FerryTestServer(new TcpServerStageOptions
        {
            Socket = new TcpSocketOptions { SendBufferSize = 4096 },
        }.On(Transport), recordPackets: false);
        await h.StartAsync();
        using var client = new System.Net.Sockets.Socket(System.Net.Sockets.AddressFamily.InterNetwork,
            System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Tcp) { ReceiveBufferSize = 4096 };
        await client.ConnectAsync(h.EndPoint);
        var id = (await h.WaitForConnectionAsync((System.Net.IPEndPoint)client.LocalEndPoint!)).ConnectionId;
        Assert.True(await h.Stage.SendAsync(id, new byte[256 * 1024]));
        await Poll.UntilAsync(() => h.Stage.GetConnections().SingleOrDefault(c => c.Id == id) is { EgressBytesQueued: > 0 }, "egress queued");
        var queued = h.Stage.GetConnections().Single(c => c.Id == id).EgressBytesQueued;

        Assert.True(h.Stage.Close(id));
        await h.WaitForDisconnectAsync(id);
        var dropped = h.Stage.GetStats().EgressBytesDroppedTotal;
        // What was queued when it closed, give or take what the kernel took in between.
        Assert.InRange(dropped, 1, queued);
    }

    [Fact]
    public async Task The_client_over_the_limit_is_closed_and_the_first_ones_keep_working()
    {
        await using var h = new FerryTestServer(new TcpServerStageOptions { MaxConnections = 3 }.On(Transport));
        await h.StartAsync();
        var clients = new List<FramedTestClient>();
        for (var i = 0; i < 3; i++)
        {
            clients.Add(await h.ConnectAsync());
            await h.WaitForConnectionAsync(clients[i].LocalEndPoint);
        }

        // The refused client is reset at once; depending on timing it sees that during or after connect.
        var extra = new System.Net.Sockets.Socket(System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Tcp);
        try
        {
            await extra.ConnectAsync(h.EndPoint);
            var extraPort = ((System.Net.IPEndPoint)extra.LocalEndPoint!).Port;
            var rejected = await h.WaitForEventAsync<DisconnectedEvent>(e => e.Reason == DisconnectReason.Limit);
            Assert.Equal(extraPort, rejected.Peer.Port);
            var buffer = new byte[16];
            await Assert.ThrowsAnyAsync<Exception>(async () =>
            {
                if (await extra.ReceiveAsync(buffer).WaitAsync(TimeSpan.FromSeconds(10)) == 0)
                    throw new EndOfStreamException();
            });
        }
        // A reset that lands while the connect completes is reported as ECONNRESET or, on the stream
        // transport's faster accept, EPIPE (Shutdown).
        catch (System.Net.Sockets.SocketException e) when (e.SocketErrorCode is System.Net.Sockets.SocketError.ConnectionReset or System.Net.Sockets.SocketError.Shutdown)
        {
            await h.WaitForEventAsync<DisconnectedEvent>(e => e.Reason == DisconnectReason.Limit);
        }
        extra.Dispose();
        Assert.Equal(3, h.Events.OfType<ConnectedEvent>().Count());
        Assert.Equal(1, h.Stage.GetStats().RejectedTotal);

        foreach (var c in clients)
            await c.SendAsync("still here");
        await h.WaitForPacketsAsync(p => p.Count == 3, "three packets from the first three clients");
        Assert.Equal(3, h.Stage.ConnectionCount);
        clients.ForEach(c => c.Dispose());
    }

    [Fact]
    public async Task A_silent_client_is_closed_for_idle_timeout_and_an_active_one_is_not()
    {
        var idle = TimeSpan.FromMilliseconds(1500);
        var scan = TimeSpan.FromMilliseconds(1500 / 8); // the scanner looks a few times per timeout
        var time = new StageTime();
        await using var h = new FerryTestServer(new TcpServerStageOptions { IdleTimeout = idle }.On(Transport), time: time);
        await h.StartAsync();
        using var silent = await h.ConnectAsync();
        using var active = await h.ConnectAsync();
        var silentId = (await h.WaitForConnectionAsync(silent.LocalEndPoint)).ConnectionId;
        var activeId = (await h.WaitForConnectionAsync(active.LocalEndPoint)).ConnectionId;

        // The active client sends something before every move of the clock, far more often than the timeout.
        async Task PingAsync()
        {
            var before = h.Stage.GetStats().PacketsReceivedTotal;
            await active.SendAsync("ping");
            await Poll.UntilAsync(() => h.Stage.GetStats().PacketsReceivedTotal > before, "the ping to arrive");
        }

        // One millisecond before the timeout nobody is closed, even though the scanner ran.
        await PingAsync();
        await h.AdvanceAsync(idle - TimeSpan.FromMilliseconds(1));
        Assert.Empty(h.Events.OfType<DisconnectedEvent>());

        // Past the timeout, the next scan closes the silent client.
        await PingAsync();
        time.Advance(TimeSpan.FromMilliseconds(2) + scan);
        var e = await h.WaitForDisconnectAsync(silentId);
        Assert.Equal(DisconnectReason.IdleTimeout, e.Reason);
        Assert.Equal("idle_timeout", e.ReasonName);
        Assert.Equal("nothing received for 1500 ms", e.Detail);
        Assert.True(await silent.WaitClosedAsync());

        // Another two full timeouts later, the active client is still connected.
        for (var i = 0; i < 6; i++)
        {
            await PingAsync();
            await h.AdvanceAsync(idle / 3);
        }
        Assert.DoesNotContain(h.Events.OfType<DisconnectedEvent>(), d => d.ConnectionId == activeId);
        Assert.Equal(1, h.Stage.ConnectionCount);
    }

    [Fact]
    public async Task Disconnect_reasons_tell_close_from_reset_from_kill()
    {
        await using var h = new FerryTestServer(new TcpServerStageOptions().On(Transport));
        await h.StartAsync();

        var closing = await h.ConnectAsync();
        var closingId = (await h.WaitForConnectionAsync(closing.LocalEndPoint)).ConnectionId;
        closing.Socket.Shutdown(System.Net.Sockets.SocketShutdown.Send);
        Assert.Equal(DisconnectReason.RemoteClosed, (await h.WaitForDisconnectAsync(closingId)).Reason);
        closing.Dispose();

        var resetting = await h.ConnectAsync();
        var resettingId = (await h.WaitForConnectionAsync(resetting.LocalEndPoint)).ConnectionId;
        resetting.Reset();
        var reset = await h.WaitForDisconnectAsync(resettingId);
        Assert.Equal(DisconnectReason.Reset, reset.Reason);
        Assert.Contains("ECONNRESET", reset.Detail);

        using var killed = await h.ConnectAsync();
        var killedId = (await h.WaitForConnectionAsync(killed.LocalEndPoint)).ConnectionId;
        Assert.True(h.Stage.Close(killedId, "protocol_violation", "isomsg_pack_fail"));
        var kill = await h.WaitForDisconnectAsync(killedId);
        Assert.Equal(DisconnectReason.Killed, kill.Reason);
        Assert.Equal("protocol_violation", kill.Detail);
        Assert.Equal("isomsg_pack_fail", kill.Code);
        Assert.True(await killed.WaitClosedAsync());
        Assert.False(h.Stage.Close(killedId), "a closed connection cannot be closed again");
    }

    [Fact]
    public async Task Events_are_published_on_the_bus_too()
    {
        await using var h = new FerryTestServer(new TcpServerStageOptions().On(Transport));
        using var events = h.Bus.Topic<StageEvent>(StageTopics.Events(h.Stage.Name)).SubscribeQueue();
        await h.StartAsync();
        using (var client = await h.ConnectAsync())
            await h.WaitForConnectionAsync(client.LocalEndPoint);
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        Assert.IsType<ListeningEvent>(await events.ReadAsync(cts.Token));
        Assert.IsType<ConnectedEvent>(await events.ReadAsync(cts.Token));
        Assert.IsType<DisconnectedEvent>(await events.ReadAsync(cts.Token));
    }

    [Fact]
    public async Task A_throwing_event_handler_does_not_hurt_the_stage()
    {
        await using var h = new FerryTestServer(new TcpServerStageOptions().On(Transport));
        h.Stage.Connected += (_, _) => throw new InvalidOperationException("boom");
        await h.StartAsync();
        using var client = await h.ConnectAsync();
        await h.WaitForConnectionAsync(client.LocalEndPoint);
        await client.SendAsync("still works");
        await h.WaitForPacketsAsync(p => p.Count == 1, "a packet after the handler threw");
    }

    [Fact]
    public async Task A_throwing_event_handler_or_events_subscriber_hides_the_event_from_no_other()
    {
        await using var h = new FerryTestServer(new TcpServerStageOptions().On(Transport));
        var laterHandler = 0;
        h.Stage.Connected += (_, _) => throw new InvalidOperationException("boom");
        h.Stage.Connected += (_, _) => Interlocked.Increment(ref laterHandler);
        var topic = h.Bus.Topic<StageEvent>(StageTopics.Events(h.Stage.Name));
        using var faulty = topic.Subscribe((e, _) => e is ConnectedEvent ? throw new InvalidOperationException("bus boom") : default);
        var laterInline = new System.Collections.Concurrent.ConcurrentQueue<StageEvent>();
        using var later = topic.Subscribe((e, _) =>
        {
            laterInline.Enqueue(e);
            return default;
        });
        using var queue = topic.SubscribeQueue();
        await h.StartAsync();

        for (var i = 0; i < 3; i++)
        {
            using var client = await h.ConnectAsync();
            await h.WaitForConnectionAsync(client.LocalEndPoint);
        }

        await Poll.UntilAsync(() => Volatile.Read(ref laterHandler) == 3 && laterInline.OfType<ConnectedEvent>().Count() == 3,
            "three Connected events at the handler and the events subscriber after the faulty ones",
            seen: () => $"handler {Volatile.Read(ref laterHandler)}, subscriber {laterInline.OfType<ConnectedEvent>().Count()}");
        var queued = 0;
        using var deadline = new CancellationTokenSource(h.Timeout);
        while (queued < 3)
            if (await queue.ReadAsync(deadline.Token) is ConnectedEvent)
                queued++;
    }
}
