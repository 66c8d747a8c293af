using Ferry.Connections;
using Ferry.Bus;
using Ferry.Stages;
using Ferry.Tests.Support;

namespace Ferry.Tests.Stages;

/// <summary>The <c>wait</c> overflow policy holds the sender of a message for a full client, never the stage.</summary>
public sealed class WaitPolicyTests
{
    [Fact]
    public async Task A_client_that_never_reads_holds_only_its_own_inline_echo_not_the_other_clients()
    {
        const int egressLimit = 64 * 1024;
        await using var h = new FerryTestServer(new TcpServerStageOptions
        {
            EgressOverflow = EgressOverflowPolicy.Wait,
            EgressBufferBytes = egressLimit,
            EgressWaitTimeout = TimeSpan.FromMinutes(5),
            Socket = new Ferry.Transport.TcpSocketOptions { ReceiveBufferSize = 64 * 1024, SendBufferSize = 64 * 1024 },
        }, recordPackets: false);
        // The inline echo of `ferry serve --echo`: runs on the service thread.
        var egress = h.Bus.Topic<EgressMessage>(StageTopics.EgressPackets(h.Stage.Name));
        using var echo = h.Bus.Topic<PacketGroup>(StageTopics.PacketGroup(h.Stage.Name)).Subscribe(async (group, ct) =>
        {
            foreach (var packet in group)
                await egress.PublishAsync(EgressMessage.To(packet.ConnectionId, packet.Payload), ct);
        });
        await h.StartAsync();

        using var stuck = await h.ConnectAsync();
        var stuckId = (await h.WaitForEventAsync<Ferry.Stages.ConnectedEvent>()).ConnectionId;
        // It sends far more than its egress buffer and both kernels can hold, and never reads.
        using var flooding = new CancellationTokenSource();
        var flood = Task.Run(async () =>
        {
            var chunk = new byte[16 * 1024];
            try
            {
                while (!flooding.IsCancellationRequested)
                    await stuck.Socket.SendAsync(chunk, System.Net.Sockets.SocketFlags.None, flooding.Token);
            }
            catch (Exception e) when (e is OperationCanceledException or System.Net.Sockets.SocketException or ObjectDisposedException)
            {
            }
        });
        // Until its egress is full and the stage stops reading it (its own TCP window closes).
        await Poll.UntilAsync(() => h.Stage.GetConnections().Single(c => c.Id == stuckId).EgressBytesQueued >= egressLimit / 2, "the stuck client's egress to fill");

        var others = new List<FramedTestClient>();
        for (var i = 0; i < 3; i++)
            others.Add(await h.ConnectAsync());
        var roundTrips = others.Select(async client =>
        {
            for (var n = 0; n < 300; n++)
            {
                var message = System.Text.Encoding.ASCII.GetBytes($"ping {n:D5}");
                await client.SendAsync(message);
                Assert.Equal(message, await client.ReceiveExactlyAsync(message.Length, TimeSpan.FromSeconds(5)));
            }
        }).ToArray();
        await Task.WhenAll(roundTrips).WaitAsync(TimeSpan.FromSeconds(60));

        // The stuck client was held, not fed without bound: what waits for it is its buffer plus what one publish carried.
        var stuckRow = h.Stage.GetConnections().Single(c => c.Id == stuckId);
        Assert.InRange(stuckRow.EgressBytesQueued, egressLimit, egressLimit + 2 * h.Stage.Options.ReadBufferBytes);
        var inBefore = stuckRow.BytesIn;
        await Task.Delay(200); // not a timer wait: gives the flood a chance to show that reads really stopped
        Assert.InRange(h.Stage.GetConnections().Single(c => c.Id == stuckId).BytesIn - inBefore, 0, h.Stage.Options.ReadBufferBytes);

        await flooding.CancelAsync();
        stuck.Dispose();
        await flood;
        foreach (var client in others)
            client.Dispose();
    }

    private static System.Net.Sockets.Socket SmallWindowClient() =>
        new(System.Net.Sockets.AddressFamily.InterNetwork, System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Tcp)
        {
            ReceiveBufferSize = 4096,
            SendBufferSize = 4096,
        };

    [Fact]
    public async Task Two_stages_that_route_to_each_other_under_wait_keep_moving_while_their_clients_read()
    {
        // The shape of a bidirectional proxy with lossless backpressure: a's packets go to b's clients and
        // b's to a's, each stage waiting for room on the other's connections. A wait on another stage's
        // connection must not block this stage's thread: the other stage may be waiting for this one.
        var bus = new InProcessBus();
        TcpServerStageOptions Options(string name) => new()
        {
            Name = name,
            Bind = "127.0.0.1:0",
            EgressOverflow = EgressOverflowPolicy.Wait,
            EgressBufferBytes = 16 * 1024,
            EgressWaitTimeout = TimeSpan.FromMinutes(5),
            Socket = new Ferry.Transport.TcpSocketOptions { SendBufferSize = 4096, ReceiveBufferSize = 4096 },
        };
        await using var a = new TcpServerStage(Options("a"), bus);
        await using var b = new TcpServerStage(Options("b"), bus);
        using var aToB = bus.Topic<PacketGroup>(StageTopics.PacketGroup("a")).Subscribe(async (group, ct) =>
        {
            foreach (var packet in group)
                await b.BroadcastAsync(packet.Payload, cancellationToken: ct);
        });
        using var bToA = bus.Topic<PacketGroup>(StageTopics.PacketGroup("b")).Subscribe(async (group, ct) =>
        {
            foreach (var packet in group)
                await a.BroadcastAsync(packet.Payload, cancellationToken: ct);
        });
        var aEnd = await a.StartAsync();
        var bEnd = await b.StartAsync();
        using var clientA = SmallWindowClient();
        using var clientB = SmallWindowClient();
        await clientA.ConnectAsync(aEnd);
        await clientB.ConnectAsync(bEnd);
        await Poll.UntilAsync(() => a.ConnectionCount == 1 && b.ConnectionCount == 1, "both clients connected");

        const int total = 512 * 1024;
        static async Task SendAll(System.Net.Sockets.Socket s)
        {
            var chunk = new byte[1024];
            for (var sent = 0; sent < total; sent += chunk.Length)
                await s.SendAsync(chunk, System.Net.Sockets.SocketFlags.None);
        }
        static async Task<long> ReadAll(System.Net.Sockets.Socket s)
        {
            var buffer = new byte[8192];
            long got = 0;
            while (got < total)
            {
                var n = await s.ReceiveAsync(buffer, System.Net.Sockets.SocketFlags.None);
                if (n == 0)
                    break;
                got += n;
            }
            return got;
        }
        // Both clients send much more than every buffer on the way holds, and read all the time.
        var readA = ReadAll(clientA);
        var readB = ReadAll(clientB);
        await Task.WhenAll(SendAll(clientA), SendAll(clientB), readA, readB).WaitAsync(TimeSpan.FromSeconds(60));
        Assert.Equal(total, await readA);
        Assert.Equal(total, await readB);
        Assert.Equal(0, a.GetStats().EgressPacketsDroppedTotal + b.GetStats().EgressPacketsDroppedTotal);
    }

    [Fact]
    public async Task A_broadcast_reaches_the_clients_with_room_at_once_while_it_waits_for_a_full_one()
    {
        await using var h = new FerryTestServer(new TcpServerStageOptions
        {
            EgressOverflow = EgressOverflowPolicy.Wait,
            EgressBufferBytes = 64 * 1024,
            EgressWaitTimeout = TimeSpan.FromMinutes(5),
            Socket = new Ferry.Transport.TcpSocketOptions { SendBufferSize = 4096 },
        }, recordPackets: false);
        await h.StartAsync();
        // The full one is listed first: it connected first.
        using var slow = SmallWindowClient();
        await slow.ConnectAsync(h.EndPoint);
        var slowId = (await h.WaitForConnectionAsync((System.Net.IPEndPoint)slow.LocalEndPoint!)).ConnectionId;
        Assert.True(await h.Stage.SendAsync(slowId, new byte[256 * 1024])); // larger than the buffer: taken when it is empty
        await Poll.UntilAsync(() => h.Stage.GetConnections().Single(c => c.Id == slowId).EgressBytesQueued > 64 * 1024, "the slow client's egress to be full");
        using var fast = await h.ConnectAsync();
        await h.WaitForConnectionAsync(fast);

        using var cancel = new CancellationTokenSource();
        var broadcast = h.Stage.BroadcastAsync("hello"u8.ToArray(), cancellationToken: cancel.Token).AsTask();
        Assert.Equal("hello"u8.ToArray(), await fast.ReceiveExactlyAsync(5, TimeSpan.FromSeconds(10)));
        Assert.False(broadcast.IsCompleted, "the publisher is still held for the full client");
        await cancel.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => broadcast.WaitAsync(TimeSpan.FromSeconds(10)));
    }

    [Fact]
    public async Task A_sender_held_for_a_full_client_is_not_closed_as_idle_while_it_is_held()
    {
        // The wait policy on the service thread stops reading the senders of a message for a full client.
        // Their silence is then the stage's, as for a paused handler inbox: the idle deadline must not run.
        var time = new StageTime();
        await using var h = new FerryTestServer(new TcpServerStageOptions
        {
            EgressOverflow = EgressOverflowPolicy.Wait,
            EgressBufferBytes = 4096,
            EgressWaitTimeout = TimeSpan.FromSeconds(30),
            IdleTimeout = TimeSpan.FromSeconds(1),
            Socket = new Ferry.Transport.TcpSocketOptions { SendBufferSize = 4096 },
        }, recordPackets: false, time: time);
        using var chat = h.Bus.Topic<PacketGroup>(StageTopics.PacketGroup(h.Stage.Name)).Subscribe(async (group, ct) =>
        {
            foreach (var packet in group)
                await h.Stage.BroadcastAsync(packet.Payload, except: packet.ConnectionId, cancellationToken: ct);
        });
        await h.StartAsync();
        using var listener = SmallWindowClient(); // never reads
        await listener.ConnectAsync(h.EndPoint);
        var listenerId = (await h.WaitForConnectionAsync((System.Net.IPEndPoint)listener.LocalEndPoint!)).ConnectionId;
        using var talker = await h.ConnectAsync();
        var talkerId = (await h.WaitForConnectionAsync(talker)).ConnectionId;

        // The talker sends until the stage stops reading it (its sends no longer go anywhere): the listener's
        // egress is full, and the talker is held for it.
        var chunk = new byte[64 * 1024];
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        talker.Socket.Blocking = false;
        for (var blocked = 0; blocked < 3;)
        {
            Assert.True(DateTime.UtcNow < deadline, "the stage never stopped reading the talker");
            try
            {
                talker.Socket.Send(chunk);
                blocked = 0;
            }
            catch (System.Net.Sockets.SocketException e) when (e.SocketErrorCode == System.Net.Sockets.SocketError.WouldBlock)
            {
                // Full for now: let the stage run a round (it reads, or it holds the talker) and look again.
                blocked++;
                await h.SettleAsync();
            }
        }
        Assert.True(h.Stage.GetConnections().Single(c => c.Id == listenerId).EgressBytesQueued > 0);

        await h.AdvanceAsync(TimeSpan.FromSeconds(1));
        // The listener has been silent for a second: it goes. The talker was held, not silent.
        Assert.Equal(DisconnectReason.IdleTimeout, (await h.WaitForDisconnectAsync(listenerId)).Reason);
        await h.SettleAsync();
        Assert.Contains(h.Stage.GetConnections(), c => c.Id == talkerId);
        Assert.DoesNotContain(h.Events.OfType<DisconnectedEvent>(), e => e.ConnectionId == talkerId);
    }
}
