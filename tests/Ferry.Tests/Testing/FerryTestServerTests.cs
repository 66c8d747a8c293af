using Ferry.Connections;
using Ferry.Framing;
using Ferry.Stages;
using Ferry.Tests.Support;
using Ferry.Transport;

namespace Ferry.Tests.Testing;

/// <summary>The test kit's server: what it records, what it waits for, and how a failed wait reads.</summary>
public abstract class FerryTestServerTests(StageTransport transport)
{
    /// <summary>These tests on the epoll transport.</summary>
    public sealed class OnEpoll() : FerryTestServerTests(StageTransport.Epoll);

    /// <summary>These tests on the portable stream transport.</summary>
    public sealed class OnStream() : FerryTestServerTests(StageTransport.Stream);

    private TcpServerStageOptions Lines => new TcpServerStageOptions { Framing = FramingSpec.Parse("lines") }.On(transport);

    [Fact]
    public async Task Starts_on_a_port_of_its_own_and_records_connections_packets_and_disconnects()
    {
        await using var server = await FerryTestServer.StartAsync(Lines);
        Assert.NotEqual(0, server.EndPoint.Port);
        Assert.IsType<ListeningEvent>(server.Events[0]);

        var client = await server.ConnectAsync();
        var connected = await server.WaitForConnectionAsync(client);
        Assert.Equal(client.LocalEndPoint, connected.Peer);
        await client.SendAsync("one\ntwo\n");
        var packets = await server.WaitForPacketsAsync(2);
        Assert.Equal(["one", "two"], packets.Select(p => p.Text));
        Assert.All(packets, p => Assert.Equal(connected.ConnectionId, p.Connection));
        Assert.Equal("two", (await server.WaitForPacketAsync(p => p.Text == "two")).Text);
        Assert.Equal(6, (await server.WaitForBytesFromAsync(connected.ConnectionId, 6)).Length);

        client.Dispose();
        var gone = await server.WaitForDisconnectAsync(connected.ConnectionId);
        Assert.Equal(DisconnectReason.RemoteClosed, gone.Reason);
        Assert.Same(gone, await server.WaitForDisconnectAsync(DisconnectReason.RemoteClosed));
    }

    [Fact]
    public async Task Recorded_payloads_are_copies_that_outlive_the_packet_group()
    {
        await using var server = await FerryTestServer.StartAsync(Lines);
        using var client = await server.ConnectAsync();
        for (var i = 0; i < 20; i++)
            await client.SendAsync($"message-{i}\n");
        var packets = await server.WaitForPacketsAsync(20);
        Assert.Equal(Enumerable.Range(0, 20).Select(i => $"message-{i}"), packets.Select(p => p.Text));
    }

    [Fact]
    public async Task A_wait_that_runs_out_says_what_it_waited_for_and_what_it_saw()
    {
        await using var server = await FerryTestServer.StartAsync(Lines);
        using var client = await server.ConnectAsync();
        var connected = await server.WaitForConnectionAsync(client);
        await client.SendAsync("hello\n");
        await server.WaitForPacketAsync();

        var packet = await Assert.ThrowsAsync<TimeoutException>(() => server.WaitForPacketAsync(p => p.Text == "bye", TimeSpan.FromMilliseconds(100)));
        Assert.Equal($"timed out after 100 ms waiting for a matching packet; saw 1 packets: 1 from {connected.ConnectionId} (5 bytes)", packet.Message);

        var idle = await Assert.ThrowsAsync<TimeoutException>(() => server.WaitForEventAsync<DisconnectedEvent>(timeout: TimeSpan.FromMilliseconds(100)));
        Assert.StartsWith("timed out after 100 ms waiting for a DisconnectedEvent; saw 2 events: listening on 127.0.0.1:", idle.Message);
        Assert.EndsWith($", connected {connected.ConnectionId} from {client.LocalEndPoint}", idle.Message);
    }

    [Fact]
    public async Task A_server_that_is_not_started_says_so()
    {
        await using var server = new FerryTestServer(Lines);
        var error = Assert.Throws<InvalidOperationException>(() => server.EndPoint);
        Assert.Contains("StartAsync", error.Message);
    }

    [Fact]
    public async Task On_a_fake_clock_it_stops_even_with_egress_stuck_behind_a_client_that_does_not_read()
    {
        var time = new Microsoft.Extensions.Time.Testing.FakeTimeProvider();
        var server = await FerryTestServer.StartAsync(new TcpServerStageOptions { EgressBufferBytes = 32 << 20 }.On(transport), time);
        using var client = await server.ConnectAsync();
        client.Socket.ReceiveBufferSize = 4096;
        var connected = await server.WaitForConnectionAsync(client);
        var chunk = new byte[64 * 1024];
        for (var i = 0; i < 256; i++)
            await server.Stage.SendAsync(connected.ConnectionId, chunk);
        await Poll.UntilAsync(() => server.Stage.GetConnections().Single().EgressBytesQueued > 0, "egress to back up behind the client");
        await server.DisposeAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(30));
    }
}
