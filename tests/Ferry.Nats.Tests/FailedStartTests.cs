using System.Net;
using System.Net.Sockets;
using Ferry.Bus;
using Ferry.Framing;
using Ferry.Nats.Tests.Support;
using Ferry.Stages;
using NATS.Client.Core;
using NATS.Client.JetStream;
using NATS.Client.JetStream.Models;

namespace Ferry.Nats.Tests;

/// <summary>
/// A gateway whose start failed leaves nothing running: no connection (the client reconnects for ever once connected), no
/// loop. It used to stay connected after a refused stream, reconnecting after every outage, until its caller, holding only an
/// exception, disposed it; a cancelled start left the client's connect going on by itself.
/// </summary>
public sealed class FailedStartTests
{
    private static TcpServerStage Stage(string name)
        => new(new TcpServerStageOptions { Name = name, Bind = "127.0.0.1:0", Framing = RawFraming.Default }, new InProcessBus());

    [SkippableFact]
    public async Task A_refused_stream_leaves_no_connection_on_the_server()
    {
        await using var server = await NatsServer.StartNewAsync(monitor: true);
        await using (var nats = await Observer.ConnectAsync(server))
            await new NatsJSContext(nats).CreateStreamAsync(new StreamConfig("other", ["ferry.refused.in"]));
        await using var stage = Stage("refused");
        await using var gateway = new NatsGateway(stage, new NatsGatewayOptions { Url = server.Url, Mode = NatsDeliveryMode.JetStream });

        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => gateway.StartAsync());
        Assert.Contains("JetStream refused stream 'ferry_refused_in'", error.Message);
        // Closed at once, before the start returned: the server lets the connection go as soon as it reads the close.
        IReadOnlyList<string> left = [];
        // Old code: the gateway's connection stayed (ferry-refused-…) until the gateway was disposed.
        await Eventually.TrueAsync(async () => !(left = await server.ConnectionsAsync()).Any(n => n.StartsWith("ferry-refused-", StringComparison.Ordinal)),
            TimeSpan.FromSeconds(5), () => "still connected: " + string.Join(", ", left));
        Assert.False(gateway.Counters.Connected);

        // Once it failed it says so, and a dispose afterwards has nothing left to do.
        var again = await Assert.ThrowsAsync<InvalidOperationException>(() => gateway.StartAsync());
        Assert.Equal("the NATS gateway of stage 'refused' failed to start and stopped; make a new one to try again", again.Message);
    }

    /// <summary>
    /// A dispose while the start went on (a host stopping) found no handler to detach; the start then attached its handlers to the
    /// stage's topics and failed on the closed connection: they stayed for good, every packet of the stage handed to a dead gateway.
    /// </summary>
    [SkippableFact]
    public async Task A_gateway_disposed_while_it_starts_leaves_nothing_on_the_stage()
    {
        await using var server = await NatsServer.StartNewAsync(jetStream: false);
        var bus = new InProcessBus();
        await using var stage = new TcpServerStage(new TcpServerStageOptions { Name = "midway", Bind = "127.0.0.1:0", Framing = RawFraming.Default }, bus);
        var gateway = new NatsGateway(stage, new NatsGatewayOptions { Url = server.Url });
        var held = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        gateway.BeforeAttachForTest = async () =>
        {
            held.TrySetResult();
            await release.Task;
        };

        var start = gateway.StartAsync();
        await held.Task.WaitAsync(TimeSpan.FromSeconds(10));
        await gateway.DisposeAsync();
        release.TrySetResult();
        await Assert.ThrowsAnyAsync<Exception>(() => start).WaitAsync(TimeSpan.FromSeconds(10));

        // The stage goes on without it: a packet reaches whoever listens on its topic, and no gateway. (Handlers run in the order
        // they were attached, so the gateway's, attached before this one, has run once this one has.)
        var seen = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var listening = bus.Topic<PacketGroup>(StageTopics.PacketGroup("midway")).Subscribe((_, _) =>
        {
            seen.TrySetResult();
            return ValueTask.CompletedTask;
        });
        await stage.StartAsync();
        using var client = await TestClient.ConnectAsync(stage.LocalEndPoint!.Port);
        await client.SendAsync("after the dispose\n");
        await seen.Task.WaitAsync(TimeSpan.FromSeconds(10));
        // Old code: its handler stayed on the stage, and the packet was handed to the closed connection (dropped, or an error).
        var counters = gateway.Counters;
        Assert.Equal(0, counters.IngressMessages + counters.IngressDropped + counters.IngressPackets);
    }

    [SkippableFact]
    public async Task A_refused_login_leaves_no_connection_trying_again()
    {
        await using var server = await NatsServer.StartNewAsync(jetStream: false, monitor: true, user: ("ferry", "secret"));
        await using var stage = Stage("login");
        await using var gateway = new NatsGateway(stage, new NatsGatewayOptions { Url = server.Url });

        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => gateway.StartAsync());
        Assert.StartsWith($"NATS gateway of stage 'login': cannot connect to '{server.Url}'", error.Message);
        // The why, not only the client's "can not start to connect nats server".
        Assert.Contains("authorization violation", error.Message, StringComparison.OrdinalIgnoreCase);
        Assert.Empty(await server.ConnectionsAsync());
    }

    /// <summary>
    /// A server that says INFO and never answers the client's CONNECT and PING holds the client's connect for ever (it has no
    /// timeout for the answer): a start cancelled meanwhile returned, and the connect went on by itself, its socket open.
    /// The cancel comes once the CONNECT has arrived, so the client's socket is its own by then (a dispose an instant after the
    /// TCP handshake, before the client has taken the socket, closes nothing: the client's race, not the gateway's).
    /// </summary>
    [Fact]
    public async Task A_cancelled_start_closes_its_socket_at_once()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        await using var stage = Stage("cancelled");
        await using var gateway = new NatsGateway(stage, new NatsGatewayOptions { Url = $"nats://127.0.0.1:{port}" });
        using var cancel = new CancellationTokenSource();

        var start = gateway.StartAsync(cancel.Token);
        using var accepted = await listener.AcceptSocketAsync().WaitAsync(TimeSpan.FromSeconds(10));
        await accepted.SendAsync("INFO {\"server_id\":\"silent\",\"version\":\"2.9.10\",\"proto\":1,\"max_payload\":1048576,\"headers\":true}\r\n"u8.ToArray(), SocketFlags.None);
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        var buffer = new byte[4096];
        var received = new System.Text.StringBuilder();
        while (!received.ToString().Contains("PING", StringComparison.Ordinal))
        {
            var n = await accepted.ReceiveAsync(buffer, SocketFlags.None, deadline.Token);
            Assert.True(n > 0, "the client closed before its CONNECT: " + received);
            received.Append(System.Text.Encoding.ASCII.GetString(buffer, 0, n));
        }
        Assert.StartsWith("CONNECT ", received.ToString());
        await cancel.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => start);

        // Old code: the client waited for PONG for ever, its socket open.
        using var closed = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        try
        {
            while (await accepted.ReceiveAsync(buffer, SocketFlags.None, closed.Token) > 0)
            {
            }
        }
        catch (SocketException)
        {
            // Reset: closed too.
        }
    }
}
