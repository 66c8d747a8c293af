using System.Net;
using Ferry.Connections;
using Ferry.Framing;
using Ferry.Stages;
using Ferry.Tests.Support;
using Ferry.Transport;
using Ferry.Transport.Interop;

namespace Ferry.Tests.Stages;

public abstract class IngressTests(StageTransport transport)
{
    /// <summary>These tests on the epoll transport.</summary>
    public sealed class OnEpoll() : IngressTests(StageTransport.Epoll);

    /// <summary>These tests on the portable stream transport.</summary>
    public sealed class OnStream() : IngressTests(StageTransport.Stream);

    private StageTransport Transport => transport;

    [Fact]
    public async Task Port_zero_reports_the_bound_address_in_the_listening_event()
    {
        await using var h = new FerryTestServer(new TcpServerStageOptions().On(Transport));
        var bound = await (await h.StartAsync()).WaitListeningAsync();
        Assert.NotEqual(0, bound.Port);
        Assert.Equal(IPAddress.Loopback, bound.Address);
        var listening = await h.WaitForEventAsync<ListeningEvent>();
        Assert.Equal(bound, listening.LocalEndPoint);
        Assert.Equal(bound, h.Stage.LocalEndPoint);
    }

    [Fact]
    public async Task Ipv6_loopback_binds_and_reports_ipv6_peers()
    {
        await using var h = new FerryTestServer(new TcpServerStageOptions { Bind = "[::1]:0" }.On(Transport));
        await h.StartAsync();
        using var client = await h.ConnectAsync();
        var connected = await h.WaitForConnectionAsync(client.LocalEndPoint);
        Assert.Equal(IPAddress.IPv6Loopback, connected.Peer.Address);
    }

    [Fact]
    public async Task Every_receive_is_a_packet_tagged_with_connection_and_peer()
    {
        await using var h = new FerryTestServer(new TcpServerStageOptions().On(Transport));
        await h.StartAsync();
        using var client = await h.ConnectAsync();
        var connected = await h.WaitForConnectionAsync(client.LocalEndPoint);

        await client.SendAsync("hello");
        await h.WaitForPacketsAsync(p => p.Count == 1, "first packet");
        await client.SendAsync("world!");
        var packets = await h.WaitForPacketsAsync(p => p.Count == 2, "second packet");

        Assert.Equal(["hello", "world!"], packets.Select(p => System.Text.Encoding.ASCII.GetString(p.Payload)));
        Assert.All(packets, p =>
        {
            Assert.Equal(connected.ConnectionId, p.Connection);
            Assert.Equal(client.LocalEndPoint.Port, p.Peer.Port);
            Assert.Equal(IPAddress.Loopback, p.Peer.Address);
        });
    }

    [Fact]
    public async Task Connection_ids_are_unique_and_never_reused()
    {
        await using var h = new FerryTestServer(new TcpServerStageOptions().On(Transport));
        await h.StartAsync();
        for (var i = 0; i < 20; i++)
        {
            using var client = await h.ConnectAsync();
            await h.WaitForConnectionAsync(client.LocalEndPoint);
        }
        await Poll.UntilAsync(() => h.Events.OfType<ConnectedEvent>().Count() == 20, "20 connections");
        var ids = h.Events.OfType<ConnectedEvent>().Select(e => e.ConnectionId).ToList();
        Assert.Equal(20, ids.Distinct().Count());
        Assert.Equal(ids.OrderBy(i => i.Sequence), ids);
        Assert.All(ids, id => Assert.Equal(id, ConnectionId.Parse(id.ToString())));
    }

    [Fact]
    public async Task Socket_options_are_applied_to_accepted_connections()
    {
        await using var h = new FerryTestServer(new TcpServerStageOptions
        {
            Socket = new TcpSocketOptions { NoDelay = true, KeepAlive = true, KeepAliveIdle = TimeSpan.FromSeconds(42), ReceiveBufferSize = 65536 },
        }.On(Transport));
        await h.StartAsync();
        using var client = await h.ConnectAsync();
        await h.WaitForConnectionAsync(client.LocalEndPoint);
        var fd = h.Stage.Core.Table.Snapshot().Single().Io switch
        {
            SocketIo epoll => epoll.Handle.Fd,
            Ferry.Transport.Streams.StreamConnectionIo stream => (int)stream.Socket.Handle,
            var other => throw new InvalidOperationException(other.GetType().Name),
        };
        Assert.Equal(1, SocketConfigurator.GetInt(fd, Libc.IPPROTO_TCP, Libc.TCP_NODELAY));
        Assert.Equal(1, SocketConfigurator.GetInt(fd, Libc.SOL_SOCKET, Libc.SO_KEEPALIVE));
        Assert.Equal(42, SocketConfigurator.GetInt(fd, Libc.IPPROTO_TCP, Libc.TCP_KEEPIDLE));
        Assert.True(SocketConfigurator.GetInt(fd, Libc.SOL_SOCKET, Libc.SO_RCVBUF) >= 65536); // the kernel doubles it
    }

    [Fact]
    public async Task A_large_stream_arrives_whole_and_in_order()
    {
        await using var h = new FerryTestServer(new TcpServerStageOptions().On(Transport));
        await h.StartAsync();
        using var client = await h.ConnectAsync();
        var connected = await h.WaitForConnectionAsync(client.LocalEndPoint);
        var data = new byte[3 * 1024 * 1024 + 17];
        new Random(7).NextBytes(data);
        await client.SendAsync(data);
        var received = await h.WaitForBytesFromAsync(connected.ConnectionId, data.Length);
        Assert.Equal(data, received);
    }

    [Fact]
    public async Task A_throwing_packet_group_subscriber_costs_the_later_subscribers_nothing()
    {
        await using var h = new FerryTestServer(new TcpServerStageOptions { Framing = FramingSpec.Parse("lines") }.On(Transport));
        var topic = h.Bus.Topic<PacketGroup>(StageTopics.PacketGroup(h.Stage.Name));
        // A logger with a bug, subscribed before the real consumers: an inline handler and a queue.
        using var faulty = topic.Subscribe((group, _) =>
        {
            foreach (var p in group)
                if (p.Payload.Span.Contains((byte)'!'))
                    throw new FormatException("logger cannot format '!'");
            return default;
        });
        var inline = new System.Collections.Concurrent.ConcurrentQueue<string>();
        using var later = topic.Subscribe((group, _) =>
        {
            foreach (var p in group)
                inline.Enqueue(System.Text.Encoding.ASCII.GetString(p.Payload.Span));
            return default;
        });
        using var queue = topic.SubscribeQueue();
        await h.StartAsync();
        using var client = await h.ConnectAsync();
        await h.WaitForConnectionAsync(client.LocalEndPoint);

        string[] lines = ["a", "b!", "c", "d!", "e"];
        for (var i = 0; i < lines.Length; i++)
        {
            // One line at a time, so each is a group of its own and only the '!' groups fail.
            await client.SendAsync(lines[i] + "\n");
            await h.WaitForPacketsAsync(p => p.Count == i + 1, $"line {lines[i]}");
        }

        await Poll.UntilAsync(() => inline.Count == lines.Length, "every line at the inline subscriber after the faulty one",
            seen: () => string.Join(",", inline));
        Assert.Equal(lines, inline);
        var queued = new List<string>();
        using var deadline = new CancellationTokenSource(h.Timeout);
        while (queued.Count < lines.Length)
            foreach (var p in await queue.ReadAsync(deadline.Token))
                queued.Add(System.Text.Encoding.ASCII.GetString(p.Payload.Span));
        Assert.Equal(lines, queued);
        await Poll.UntilAsync(() => h.Events.OfType<StageErrorEvent>().Count(e => e.Kind == StageErrorKind.Handler) == 2, "two subscriber failures reported");
        Assert.All(h.Events.OfType<StageErrorEvent>(), e => Assert.Equal("a packet_group subscriber failed: logger cannot format '!'", e.Message));
        Assert.Equal(lines.Length, h.Stage.GetStats().PacketsReceivedTotal);
    }
}
