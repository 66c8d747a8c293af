using System.Net;
using System.Net.Sockets;
using System.Text;
using Ferry.Connections;
using Ferry.Framing;
using Ferry.Stages;
using Ferry.Tests.Support;
using Ferry.Transport;

namespace Ferry.Tests.Stages;

/// <summary>
/// A real HAProxy in front of a stage, with <c>send-proxy</c> (v1) and <c>send-proxy-v2</c>: clients
/// connect from 127.0.0.3 and 127.0.0.4, HAProxy reaches the stage from 127.0.0.1 (the trusted proxy).
/// </summary>
public abstract class HaproxyTests(StageTransport transport)
{
    /// <summary>These tests on the epoll transport.</summary>
    public sealed class OnEpoll() : HaproxyTests(StageTransport.Epoll);

    /// <summary>These tests on the portable stream transport.</summary>
    public sealed class OnStream() : HaproxyTests(StageTransport.Stream);

    private const string V1 = "send-proxy";
    private const string V2 = "send-proxy-v2";

    private TcpServerStageOptions Options() => new TcpServerStageOptions
    {
        Bind = "127.0.0.1:0",
        Framing = FramingSpec.Parse("lines"),
        ProxyProtocol = ProxyProtocol.Any,
        TrustedProxies = ["127.0.0.1/32"],
    }.On(transport);

    private static async Task<string> ReadLineAsync(Socket socket)
    {
        var bytes = new List<byte>();
        var one = new byte[1];
        while (true)
        {
            var n = await socket.ReceiveAsync(one, SocketFlags.None).WaitAsync(TimeSpan.FromSeconds(10));
            if (n == 0 || one[0] == '\n')
                return Encoding.ASCII.GetString([.. bytes]);
            bytes.Add(one[0]);
        }
    }

    [HaproxyFact]
    public async Task Through_send_proxy_and_send_proxy_v2_the_stage_sees_the_real_client_and_haproxy_as_via()
    {
        await using var h = new FerryTestServer(Options());
        await h.StartAsync();
        await using var haproxy = await HaproxyServer.StartAsync(h.EndPoint, V1, V2);

        foreach (var (option, from) in new[] { (V1, "127.0.0.3"), (V2, "127.0.0.4") })
        {
            using var client = await haproxy.ConnectAsync(option, from);
            var local = (IPEndPoint)client.LocalEndPoint!;
            await client.SendAsync(Encoding.ASCII.GetBytes($"hello over {option}\n"));
            var connected = await h.WaitForEventAsync<ConnectedEvent>(e => e.Peer.Equals(local));
            Assert.NotNull(connected.Via);
            Assert.Equal(IPAddress.Loopback, connected.Via!.Address);
            Assert.NotEqual(local.Port, connected.Via.Port);
            var packet = (await h.WaitForPacketsAsync(p => p.Any(x => x.Connection == connected.ConnectionId), $"a line through {option}"))
                .Single(x => x.Connection == connected.ConnectionId);
            Assert.Equal($"hello over {option}", Encoding.ASCII.GetString(packet.Payload));
            Assert.Equal(local, packet.Peer);

            // And back through HAProxy to the client.
            Assert.True(await h.Stage.SendAsync(connected.ConnectionId, Encoding.ASCII.GetBytes("answer")));
            Assert.Equal("answer", await ReadLineAsync(client));
        }
        Assert.Equal(0, h.Stage.GetStats().ProxyFailuresTotal);
    }

    [HaproxyFact]
    public async Task A_per_address_limit_applies_to_the_real_client_behind_haproxy()
    {
        await using var h = new FerryTestServer(Options() with { MaxConnectionsPerIp = 1 });
        await h.StartAsync();
        await using var haproxy = await HaproxyServer.StartAsync(h.EndPoint, V1, V2);

        using var first = await haproxy.ConnectAsync(V2, "127.0.0.3");
        await h.WaitForEventAsync<ConnectedEvent>(e => e.Peer.Equals(first.LocalEndPoint));
        // HAProxy connects to the backend when the client connects; the header follows at once.
        using var second = await haproxy.ConnectAsync(V1, "127.0.0.3");
        var refused = await h.WaitForEventAsync<DisconnectedEvent>(e => e.Reason == DisconnectReason.IpLimit);
        Assert.Equal(second.LocalEndPoint, refused.Peer);
        Assert.Contains("max_connections_per_ip 1 reached for 127.0.0.3", refused.Detail);
        // HAProxy closes the client's side when the server side goes.
        try
        {
            Assert.Equal(0, await second.ReceiveAsync(new byte[1], SocketFlags.None).WaitAsync(TimeSpan.FromSeconds(10)));
        }
        catch (SocketException)
        {
            // reset: closed all the same
        }

        // Another client through the same proxy is not limited by the first.
        using var other = await haproxy.ConnectAsync(V2, "127.0.0.4");
        var connected = await h.WaitForEventAsync<ConnectedEvent>(e => e.Peer.Equals(other.LocalEndPoint));
        Assert.Equal(IPAddress.Loopback, connected.Via!.Address);
        Assert.Equal(2, h.Stage.ConnectionCount);
    }
}
