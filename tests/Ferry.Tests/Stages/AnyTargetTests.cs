using System.Net;
using System.Net.Sockets;
using Ferry.Connections;
using Ferry.Stages;
using Ferry.Tests.Support;
using Ferry.Transport;

namespace Ferry.Tests.Stages;

/// <summary>The "any one" egress target: exactly one connection per message, round-robin, full ones passed over.</summary>
public abstract class AnyTargetTests(StageTransport transport)
{
    /// <summary>These tests on the epoll transport.</summary>
    public sealed class OnEpoll() : AnyTargetTests(StageTransport.Epoll);

    /// <summary>These tests on the portable stream transport.</summary>
    public sealed class OnStream() : AnyTargetTests(StageTransport.Stream);

    private StageTransport Transport => transport;

    private TcpServerStageOptions Small(EgressOverflowPolicy policy, TimeSpan? waitTimeout = null) => new TcpServerStageOptions
    {
        EgressBufferBytes = 32 * 1024,
        EgressOverflow = policy,
        EgressWaitTimeout = waitTimeout ?? TimeSpan.FromSeconds(10),
        Socket = new TcpSocketOptions { SendBufferSize = 8 * 1024 },
    }.On(Transport);

    private static byte[] Numbered(int i, int size = 4)
    {
        var payload = new byte[size];
        BitConverter.TryWriteBytes(payload, i);
        return payload;
    }

    private static async Task<List<(FramedTestClient Client, ConnectionId Id)>> ConnectAsync(FerryTestServer h, int count)
    {
        var clients = new List<(FramedTestClient, ConnectionId)>();
        for (var i = 0; i < count; i++)
        {
            var client = await h.ConnectAsync();
            clients.Add((client, (await h.WaitForConnectionAsync(client.LocalEndPoint)).ConnectionId));
        }
        return clients;
    }

    /// <summary>
    /// A client that never reads. Its receive buffer is made small before it connects, so the window it
    /// advertises is small from the start and the kernel soon stops taking the stage's bytes.
    /// </summary>
    private static async Task<(Socket Client, ConnectionId Id)> ConnectStalledAsync(FerryTestServer h)
    {
        var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { ReceiveBufferSize = 4096 };
        await client.ConnectAsync(h.EndPoint);
        return (client, (await h.WaitForConnectionAsync((IPEndPoint)client.LocalEndPoint!)).ConnectionId);
    }

    /// <summary>Waits until the kernel takes no more of a stalled connection's queue (its bytes out stay put).</summary>
    private static async Task WaitStalledAsync(FerryTestServer h, ConnectionId id)
    {
        long last = -1;
        var steady = 0;
        await Poll.UntilAsync(() =>
        {
            var now = h.Stage.GetConnections().Single(c => c.Id == id).BytesOut;
            steady = now == last ? steady + 1 : 0;
            last = now;
            return steady >= 10;
        }, "the stalled connection's kernel buffers to fill");
    }

    private static void AssertNumberedInOrder(byte[] data, int messages, int size)
    {
        for (var i = 0; i < messages; i++)
            Assert.Equal(i, BitConverter.ToInt32(data, i * size));
    }

    private static async Task<byte[]> ReceiveExactlyAsync(Socket client, int count)
    {
        var data = new byte[count];
        using var reading = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        for (var got = 0; got < count;)
        {
            var n = await client.ReceiveAsync(data.AsMemory(got), SocketFlags.None, reading.Token);
            Assert.NotEqual(0, n);
            got += n;
        }
        return data;
    }

    [Fact]
    public async Task Each_message_goes_to_exactly_one_connection_in_turn_through_the_api_and_the_bus()
    {
        await using var h = new FerryTestServer(new TcpServerStageOptions().On(Transport));
        await h.StartAsync();
        var clients = await ConnectAsync(h, 3);

        for (var i = 0; i < 15; i++)
            Assert.True(await h.Stage.SendToAnyAsync(Numbered(i)));
        var egress = h.Bus.Topic<EgressMessage>(StageTopics.EgressPackets(h.Stage.Name));
        for (var i = 15; i < 30; i++)
            await egress.PublishAsync(EgressMessage.ToAny(Numbered(i)));

        // Round-robin over connections that all have room: ten each, every number exactly once.
        var seen = new List<int>();
        foreach (var (client, _) in clients)
        {
            var bytes = await client.ReceiveExactlyAsync(40);
            for (var k = 0; k < 40; k += 4)
                seen.Add(BitConverter.ToInt32(bytes, k));
        }
        Assert.Equal(Enumerable.Range(0, 30), seen.Order());
        foreach (var info in h.Stage.GetConnections())
            Assert.Equal(10, info.PacketsOut);
        Assert.Equal(0, h.Stage.GetStats().EgressPacketsDroppedTotal);
        foreach (var (client, _) in clients)
            client.Dispose();
    }

    [Fact]
    public async Task A_full_connection_is_passed_over_while_another_has_room()
    {
        await using var h = new FerryTestServer(Small(EgressOverflowPolicy.Drop));
        await h.StartAsync();
        // Fill one connection's egress first: the send that finds it full is the one drop.
        var (stalled, stalledId) = await ConnectStalledAsync(h);
        // Large messages: the kernel keeps taking a trickle from a peer that never reads (it compacts
        // its receive queue), and a trickle frees room for a small message but seldom for 8 KB.
        const int size = 8000;
        while (await h.Stage.SendToAnyAsync(new byte[size]))
        {
        }
        await WaitStalledAsync(h, stalledId);
        var toStalled = h.Stage.GetConnections().Single(c => c.Id == stalledId).PacketsOut;

        // Every later message, whichever connection's turn it is, goes to one with room: none is
        // dropped, though round-robin alone would charge half of them to the full connection.
        var (reader, _) = (await ConnectAsync(h, 1))[0];
        var toReader = 0;
        for (var i = 0; i < 50; i++)
        {
            Assert.True(await h.Stage.SendToAnyAsync(Numbered(i, size)), $"message {i} found the connection with room");
            var nowStalled = h.Stage.GetConnections().Single(c => c.Id == stalledId).PacketsOut;
            if (nowStalled > toStalled)
            {
                toStalled = nowStalled;
                continue;
            }
            Assert.Equal(i, BitConverter.ToInt32(await reader.ReceiveExactlyAsync(size)));
            toReader++;
        }
        Assert.True(toReader > 40, $"the connection with room took {toReader} of 50");
        Assert.Equal(1, h.Stage.GetStats().EgressPacketsDroppedTotal);
        reader.Dispose();
        stalled.Dispose();
    }

    [Fact]
    public async Task When_every_connection_is_full_drop_counts_the_message_once()
    {
        await using var h = new FerryTestServer(Small(EgressOverflowPolicy.Drop));
        await h.StartAsync();
        var (a, _) = await ConnectStalledAsync(h);
        var (b, _) = await ConnectStalledAsync(h);

        var sent = 0;
        while (await h.Stage.SendToAnyAsync(new byte[1000]))
            sent++;
        Assert.True(sent > 30, $"{sent} messages fit before both buffers were full");
        Assert.Equal(1, h.Stage.GetStats().EgressPacketsDroppedTotal);
        Assert.Equal(1, h.Stage.GetConnections().Sum(c => c.EgressPacketsDropped));
        Assert.Equal(2, h.Stage.ConnectionCount);
        a.Dispose();
        b.Dispose();
    }

    [Fact]
    public async Task When_every_connection_is_full_disconnect_closes_the_one_whose_turn_it_was()
    {
        await using var h = new FerryTestServer(Small(EgressOverflowPolicy.Disconnect));
        await h.StartAsync();
        var (a, aId) = await ConnectStalledAsync(h);

        while (await h.Stage.SendToAnyAsync(new byte[1000]))
        {
        }
        var closed = await h.WaitForDisconnectAsync(aId);
        Assert.Equal(DisconnectReason.SlowConsumer, closed.Reason);
        Assert.Equal(1, h.Stage.GetStats().EgressPacketsDroppedTotal);
        a.Dispose();
    }

    [Fact]
    public async Task Under_wait_the_publisher_waits_for_room_and_loses_nothing()
    {
        await using var h = new FerryTestServer(Small(EgressOverflowPolicy.Wait));
        await h.StartAsync();
        var (client, _) = await ConnectStalledAsync(h);

        const int messages = 300;
        var publisher = Task.Run(async () =>
        {
            for (var i = 0; i < messages; i++)
                Assert.True(await h.Stage.SendToAnyAsync(Numbered(i, 1000)));
        });
        // The publisher stalls once the buffers are full (it cannot finish while nobody reads).
        await Poll.UntilAsync(() => h.Stage.GetConnections()[0].EgressBytesQueued > 16 * 1024, "the egress buffer to fill");
        Assert.False(publisher.IsCompleted);

        var data = await ReceiveExactlyAsync(client, messages * 1000);
        await publisher.WaitAsync(TimeSpan.FromSeconds(30));
        AssertNumberedInOrder(data, messages, 1000);
        Assert.Equal(0, h.Stage.GetStats().EgressPacketsDroppedTotal);
        client.Dispose();
    }

    [Fact]
    public async Task Under_wait_the_first_full_connection_to_make_room_takes_the_message()
    {
        await using var h = new FerryTestServer(Small(EgressOverflowPolicy.Wait, TimeSpan.FromSeconds(60)));
        await h.StartAsync();
        var (never, neverId) = await ConnectStalledAsync(h);
        var (later, laterId) = await ConnectStalledAsync(h);

        const int messages = 200;
        var publisher = Task.Run(async () =>
        {
            for (var i = 0; i < messages; i++)
                Assert.True(await h.Stage.SendToAnyAsync(Numbered(i, 1000)));
        });
        await Poll.UntilAsync(() => h.Stage.GetConnections().All(c => c.EgressBytesQueued > 16 * 1024), "both egress buffers to fill");
        Assert.False(publisher.IsCompleted);

        // Only one of the two starts reading; whichever the publisher was waiting on, it goes on at once.
        long read = 0;
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var reading = Task.Run(async () =>
        {
            var buffer = new byte[64 * 1024];
            while (!stop.IsCancellationRequested)
            {
                var n = await later.ReceiveAsync(buffer.AsMemory(), SocketFlags.None, stop.Token);
                if (n == 0)
                    return;
                Interlocked.Add(ref read, n);
            }
        });
        await publisher.WaitAsync(TimeSpan.FromSeconds(30));
        var toLater = h.Stage.GetConnections().Single(c => c.Id == laterId).PacketsOut;
        await Poll.UntilAsync(() => Interlocked.Read(ref read) == toLater * 1000, "the reading client to get all it was given");
        Assert.Equal(0, h.Stage.GetStats().EgressPacketsDroppedTotal);
        await stop.CancelAsync();
        await reading.ContinueWith(_ => { });
        never.Dispose();
        later.Dispose();
        _ = neverId;
    }

    [Fact]
    public async Task Under_wait_a_handler_on_the_service_thread_waits_by_flushing_and_loses_nothing()
    {
        await using var h = new FerryTestServer(Small(EgressOverflowPolicy.Wait, TimeSpan.FromSeconds(60)));
        const int messages = 100;
        // Packet-group handlers run on the stage's service thread: the one that would make room.
        h.Bus.Topic<PacketGroup>(StageTopics.PacketGroup(h.Stage.Name)).Subscribe(async (group, ct) =>
        {
            for (var i = 0; i < messages; i++)
                await h.Stage.SendToAnyAsync(Numbered(i, 1000), cancellationToken: ct);
        });
        await h.StartAsync();
        var (client, _) = await ConnectStalledAsync(h);
        await client.SendAsync("go"u8.ToArray());
        await Poll.UntilAsync(() => h.Stage.GetConnections()[0].EgressBytesQueued > 16 * 1024, "the egress buffer to fill");

        var data = await ReceiveExactlyAsync(client, messages * 1000);
        AssertNumberedInOrder(data, messages, 1000);
        Assert.Equal(0, h.Stage.GetStats().EgressPacketsDroppedTotal);
        client.Dispose();
    }

    [Fact]
    public async Task A_held_message_the_framing_refuses_fails_its_sender_and_spares_the_stage()
    {
        var options = new TcpServerStageOptions { Framing = Ferry.Framing.FramingSpec.Parse("fixed,size=8"), QueueWhenDisconnected = 4 }.On(Transport);
        await using var h = new FerryTestServer(options);
        await h.StartAsync();
        await Assert.ThrowsAsync<Ferry.Framing.FramingException>(async () => await h.Stage.SendToAnyAsync(new byte[5]));
        await Assert.ThrowsAsync<Ferry.Framing.FramingException>(async () => await h.Stage.BroadcastAsync(new byte[5]));
        Assert.False(await h.Stage.SendToAnyAsync("8 bytes!"u8.ToArray()));

        using var first = await h.ConnectAsync();
        Assert.Equal("8 bytes!"u8.ToArray(), await first.ReceiveExactlyAsync(8));
        await h.WaitForConnectionAsync(first.LocalEndPoint);
    }

    [Fact]
    public async Task Under_wait_a_publisher_gives_up_after_the_wait_timeout_and_counts_one_drop()
    {
        var time = new StageTime();
        await using var h = new FerryTestServer(Small(EgressOverflowPolicy.Wait, TimeSpan.FromMilliseconds(200)), time: time);
        await h.StartAsync();
        var (client, _) = await ConnectStalledAsync(h);
        var sent = 0;
        while (true)
        {
            var sending = h.Stage.SendToAnyAsync(new byte[1000]).AsTask();
            if (!sending.IsCompleted)
            {
                // Every connection is full and the wait's timeout is armed: no drop a millisecond before it.
                time.Advance(TimeSpan.FromMilliseconds(199));
                Assert.Equal(0, h.Stage.GetStats().EgressPacketsDroppedTotal);
                time.Advance(TimeSpan.FromMilliseconds(1));
            }
            if (!await sending.WaitAsync(TimeSpan.FromSeconds(10)))
                break;
            sent++;
        }
        Assert.True(sent > 30);
        Assert.Equal(1, h.Stage.GetStats().EgressPacketsDroppedTotal);
        Assert.Equal(1, h.Stage.GetConnections()[0].EgressPacketsDropped);
        client.Dispose();
    }

    [Fact]
    public async Task With_nobody_connected_the_message_is_dropped_or_held_for_the_first_client()
    {
        await using (var dropping = new FerryTestServer(new TcpServerStageOptions().On(Transport)))
        {
            await dropping.StartAsync();
            Assert.False(await dropping.Stage.SendToAnyAsync(new byte[5]));
            Assert.Equal(1, dropping.Stage.GetStats().EgressPacketsDroppedTotal);
        }

        await using var holding = new FerryTestServer(new TcpServerStageOptions { QueueWhenDisconnected = 4 }.On(Transport));
        await holding.StartAsync();
        Assert.False(await holding.Stage.SendToAnyAsync("held"u8.ToArray()));
        using var first = await holding.ConnectAsync();
        Assert.Equal("held"u8.ToArray(), await first.ReceiveExactlyAsync(4));
        Assert.Equal(0, holding.Stage.GetStats().EgressPacketsDroppedTotal);
    }

    [Fact]
    public async Task A_connection_still_in_its_handshake_takes_no_any_or_broadcast_and_neither_is_lost_silently()
    {
        // A session framing: the connection is accepted but not established until the peer's greeting.
        var options = new TcpServerStageOptions { Framing = Ferry.Framing.FramingSpec.Parse("zmtp,socket=push"), QueueWhenDisconnected = 0 }.On(Transport);
        await using var h = new FerryTestServer(options);
        await h.StartAsync();
        using var silent = await h.ConnectAsync();
        await Poll.UntilAsync(() => h.Stage.ConnectionCount == 1, "the connection to be accepted");

        Assert.False(await h.Stage.SendToAnyAsync(new byte[3]));
        Assert.Equal(0, await h.Stage.BroadcastAsync(new byte[3]));
        Assert.Equal(2, h.Stage.GetStats().EgressPacketsDroppedTotal);
    }

    [Fact]
    public async Task Turns_go_round_the_established_connections_evenly_while_one_is_in_its_handshake()
    {
        // Two PULL peers that finished the ZMTP handshake, with a silent one accepted between them: every
        // message goes to an established one, and they take turns (3 and 3), the silent one costing no one a turn.
        var options = new TcpServerStageOptions { Framing = Ferry.Framing.FramingSpec.Parse("zmtp,socket=push,message=single") }.On(Transport);
        await using var h = new FerryTestServer(options);
        await h.StartAsync();
        var handshake = new System.Buffers.ArrayBufferWriter<byte>();
        Ferry.Bridge.Zmtp.ZmtpGreeting.Write(handshake);
        Ferry.Bridge.Zmtp.ZmtpCommand.WriteReady(handshake, Ferry.Bridge.Zmtp.ZmtpSocketType.Pull);
        var peers = new List<Socket>();
        for (var i = 0; i < 3; i++)
        {
            var peer = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            await peer.ConnectAsync(h.EndPoint);
            peers.Add(peer);
            await Poll.UntilAsync(() => h.Stage.ConnectionCount == i + 1, "the connection to be accepted");
            if (i == 1)
                continue; // the silent one
            await peer.SendAsync(handshake.WrittenMemory);
            await Poll.UntilAsync(() => h.Events.OfType<ConnectedEvent>().Count() == (i == 0 ? 1 : 2), "the handshake to finish");
        }

        for (var i = 0; i < 6; i++)
            Assert.True(await h.Stage.SendToAnyAsync(Numbered(i)));
        var established = h.Events.OfType<ConnectedEvent>().Select(e => e.ConnectionId).ToHashSet();
        var counts = h.Stage.GetConnections().Where(c => established.Contains(c.Id)).Select(c => c.PacketsOut).ToList();
        Assert.Equal([3, 3], counts);
        foreach (var peer in peers)
            peer.Dispose();
    }
}
