using System.Net;
using System.Net.Sockets;
using Ferry.Connections;
using Ferry.Stages;
using Ferry.Tests.Support;
using Ferry.Transport;

namespace Ferry.Tests.Stages;

/// <summary>Per-address limits and allow/deny lists, applied at accept before any byte is read.</summary>
public abstract class AdmissionTests(StageTransport transport)
{
    /// <summary>These tests on the epoll transport.</summary>
    public sealed class OnEpoll() : AdmissionTests(StageTransport.Epoll);

    /// <summary>These tests on the portable stream transport.</summary>
    public sealed class OnStream() : AdmissionTests(StageTransport.Stream);

    private StageTransport Transport => transport;

    /// <summary>A client from a chosen loopback address (Linux routes all of 127.0.0.0/8 to lo).</summary>
    private static async Task<Socket> ConnectFromAsync(IPEndPoint server, string from)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        socket.Bind(new IPEndPoint(IPAddress.Parse(from), 0));
        try
        {
            await socket.ConnectAsync(server);
        }
        catch (SocketException e) when (e.SocketErrorCode is SocketError.ConnectionReset or SocketError.Shutdown)
        {
            // A refusal at accept can reset the connection before the connect has returned.
        }
        return socket;
    }

    private static async Task<bool> RefusedAsync(Socket socket)
    {
        try
        {
            var n = await socket.ReceiveAsync(new byte[1], SocketFlags.None).WaitAsync(TimeSpan.FromSeconds(10));
            return n == 0;
        }
        catch (Exception e) when (e is SocketException or InvalidOperationException)
        {
            return true; // reset, or never connected because the reset came first
        }
    }

    [Fact]
    public async Task Connections_over_the_per_address_limit_are_refused_and_other_addresses_are_not()
    {
        await using var h = new FerryTestServer(new TcpServerStageOptions { MaxConnectionsPerIp = 2 }.On(Transport));
        await h.StartAsync();
        using var a1 = await ConnectFromAsync(h.EndPoint, "127.0.0.1");
        using var a2 = await ConnectFromAsync(h.EndPoint, "127.0.0.1");
        await Poll.UntilAsync(() => h.Stage.ConnectionCount == 2, "two from 127.0.0.1");
        using var a3 = await ConnectFromAsync(h.EndPoint, "127.0.0.1");
        var refused = await h.WaitForEventAsync<DisconnectedEvent>(e => e.Reason == DisconnectReason.IpLimit);
        Assert.Equal("ip_limit", refused.ReasonName);
        Assert.Contains("max_connections_per_ip 2", refused.Detail);
        Assert.True(await RefusedAsync(a3));
        using var b1 = await ConnectFromAsync(h.EndPoint, "127.0.0.2");
        await Poll.UntilAsync(() => h.Stage.ConnectionCount == 3, "one from 127.0.0.2");

        // A closed connection frees its place.
        a1.Dispose();
        await Poll.UntilAsync(() => h.Stage.ConnectionCount == 2, "the first to close");
        using var a4 = await ConnectFromAsync(h.EndPoint, "127.0.0.1");
        await Poll.UntilAsync(() => h.Stage.ConnectionCount == 3, "a new one from 127.0.0.1");
        var stats = h.Stage.GetStats();
        Assert.Equal(1, stats.RejectedTotal);
        // A refusal at accept is rejected and closed (as one at a PROXY header): a3 and a1 closed.
        Assert.Equal(2, stats.ClosedTotal);
        Assert.Equal(stats.AcceptedTotal, stats.ConnectionsNow + stats.ClosedTotal);
    }

    [Fact]
    public async Task A_connection_rate_per_address_refuses_the_excess_within_the_window()
    {
        await using var h = new FerryTestServer(new TcpServerStageOptions { ConnectionRatePerIp = 3, ConnectionRateWindow = TimeSpan.FromMinutes(5) }.On(Transport));
        await h.StartAsync();
        var sockets = new List<Socket>();
        for (var i = 0; i < 3; i++)
            sockets.Add(await ConnectFromAsync(h.EndPoint, "127.0.0.1"));
        await Poll.UntilAsync(() => h.Stage.ConnectionCount == 3, "three within the rate");
        sockets.Add(await ConnectFromAsync(h.EndPoint, "127.0.0.1"));
        var refused = await h.WaitForEventAsync<DisconnectedEvent>(e => e.Reason == DisconnectReason.IpLimit);
        Assert.Contains("connection_rate_per_ip 3", refused.Detail);
        sockets.Add(await ConnectFromAsync(h.EndPoint, "127.0.0.3"));
        await Poll.UntilAsync(() => h.Stage.ConnectionCount == 4, "another address within its own rate");
        sockets.ForEach(s => s.Dispose());
    }

    [Theory]
    [InlineData(new string[0], new[] { "127.0.0.2/32" }, "127.0.0.2", true)]
    [InlineData(new string[0], new[] { "127.0.0.2/32" }, "127.0.0.1", false)]
    [InlineData(new[] { "10.0.0.0/8" }, new string[0], "127.0.0.1", true)]
    [InlineData(new[] { "127.0.0.0/8" }, new[] { "127.0.0.5/32" }, "127.0.0.5", true)]
    [InlineData(new[] { "127.0.0.0/8" }, new[] { "127.0.0.5/32" }, "127.0.0.6", false)]
    public async Task Allow_and_deny_lists_decide_by_network(string[] allow, string[] deny, string from, bool denied)
    {
        await using var h = new FerryTestServer(new TcpServerStageOptions { AllowFrom = allow, DenyFrom = deny }.On(Transport));
        await h.StartAsync();
        using var client = await ConnectFromAsync(h.EndPoint, from);
        if (denied)
        {
            var e = await h.WaitForEventAsync<DisconnectedEvent>(e => e.Reason == DisconnectReason.Denied);
            Assert.Equal("denied", e.ReasonName);
            Assert.True(await RefusedAsync(client));
            Assert.Empty(h.Events.OfType<ConnectedEvent>());
        }
        else
        {
            await h.WaitForEventAsync<ConnectedEvent>();
        }
    }

    [Fact]
    public async Task An_accept_filter_sees_the_peer_and_may_refuse()
    {
        var seen = new System.Collections.Concurrent.ConcurrentQueue<AcceptContext>();
        await using var h = new FerryTestServer(new TcpServerStageOptions
        {
            AcceptFilter = context =>
            {
                seen.Enqueue(context);
                return context.ConnectionsFromAddress < 1;
            },
        }.On(Transport));
        await h.StartAsync();
        using var first = await ConnectFromAsync(h.EndPoint, "127.0.0.1");
        await h.WaitForEventAsync<ConnectedEvent>();
        using var second = await ConnectFromAsync(h.EndPoint, "127.0.0.1");
        var e = await h.WaitForEventAsync<DisconnectedEvent>(e => e.Reason == DisconnectReason.Denied);
        Assert.Equal("refused by the accept filter", e.Detail);
        Assert.Equal([0, 1], seen.Select(c => c.ConnectionsFromAddress));
        Assert.All(seen, c => Assert.Equal(h.EndPoint.Port, c.Local.Port));
    }

    [Fact]
    public async Task An_accept_filter_that_throws_refuses_that_connection_alone_and_the_stage_goes_on()
    {
        var asked = 0;
        await using var h = new FerryTestServer(new TcpServerStageOptions
        {
            // A lookup that fails for one client.
            AcceptFilter = context => Interlocked.Increment(ref asked) != 2 ? true : throw new KeyNotFoundException($"no entry for {context.Peer}"),
        }.On(Transport));
        await h.StartAsync();
        using var first = await ConnectFromAsync(h.EndPoint, "127.0.0.1");
        var firstId = (await h.WaitForEventAsync<ConnectedEvent>()).ConnectionId;

        using var second = await ConnectFromAsync(h.EndPoint, "127.0.0.1");
        var refused = await h.WaitForEventAsync<DisconnectedEvent>(e => e.Reason == DisconnectReason.Denied);
        Assert.Equal(((IPEndPoint)second.LocalEndPoint!).Port, refused.Peer.Port);
        Assert.Equal($"the accept filter threw KeyNotFoundException: no entry for {refused.Peer}", refused.Detail);
        Assert.True(await RefusedAsync(second));
        var failure = await h.WaitForEventAsync<StageErrorEvent>(e => e.Kind == StageErrorKind.Handler);
        Assert.Equal($"the accept filter threw KeyNotFoundException: no entry for {refused.Peer} (connection from {refused.Peer} refused)", failure.Message);

        // The stage goes on: the first client is still served and the next one is taken.
        using var third = await ConnectFromAsync(h.EndPoint, "127.0.0.1");
        await h.WaitForEventAsync<ConnectedEvent>(e => e.Peer.Port == ((IPEndPoint)third.LocalEndPoint!).Port);
        await first.SendAsync("still here"u8.ToArray(), SocketFlags.None);
        await third.SendAsync("new"u8.ToArray(), SocketFlags.None);
        await h.WaitForPacketsAsync(p => p.Select(x => x.Connection).Distinct().Count() == 2, "a packet from the first and the third client");
        Assert.DoesNotContain(h.Events.OfType<DisconnectedEvent>(), e => e.ConnectionId == firstId);
        Assert.Equal(2, h.Stage.ConnectionCount);
        Assert.Equal(1, h.Stage.GetStats().RejectedTotal);
    }

    [Fact]
    public void Bad_networks_and_limits_are_reported_by_name()
    {
        var problems = Assert.Throws<StageOptionsException>(() => new TcpServerStage(new TcpServerStageOptions
        {
            AllowFrom = ["10.0.0.0/33"],
            DenyFrom = ["nonsense"],
            MaxConnectionsPerIp = -1,
            ConnectionRateWindow = TimeSpan.Zero,
        }.On(Transport))).Problems;
        Assert.Contains(problems, p => p.StartsWith("TcpServerStageOptions.AllowFrom: '10.0.0.0/33'"));
        Assert.Contains(problems, p => p.StartsWith("TcpServerStageOptions.DenyFrom: 'nonsense'"));
        Assert.Contains(problems, p => p.StartsWith("TcpServerStageOptions.MaxConnectionsPerIp"));
        Assert.Contains(problems, p => p.StartsWith("TcpServerStageOptions.ConnectionRateWindow"));
    }

    /// <summary>
    /// .NET's IPNetwork parser clears bits set after the prefix: 10.0.0.1/8 would have admitted, refused or
    /// trusted all of 10.0.0.0/8 without a word. Refused, naming the network and the single address.
    /// </summary>
    [Theory]
    [InlineData("allow_from", "10.0.0.1/8", "'10.0.0.1/8' has bits set after its /8 prefix; write the network as 10.0.0.0/8, or 10.0.0.1/32 for that one address")]
    [InlineData("deny_from", "192.168.1.7/24", "'192.168.1.7/24' has bits set after its /24 prefix; write the network as 192.168.1.0/24, or 192.168.1.7/32 for that one address")]
    [InlineData("deny_from", "2001:db8::1/32", "'2001:db8::1/32' has bits set after its /32 prefix; write the network as 2001:db8::/32, or 2001:db8::1/128 for that one address")]
    [InlineData("trusted_proxies", "10.0.0.1/8", "'10.0.0.1/8' has bits set after its /8 prefix; write the network as 10.0.0.0/8, or 10.0.0.1 for that one address")]
    public async Task A_network_with_host_bits_set_is_refused_with_the_network_it_would_be(string option, string value, string expected)
    {
        TcpServerStageOptions With(params string[] values) => (option switch
        {
            "allow_from" => new TcpServerStageOptions { AllowFrom = values },
            "deny_from" => new TcpServerStageOptions { DenyFrom = values },
            _ => new TcpServerStageOptions { ProxyProtocol = ProxyProtocol.V1, TrustedProxies = values },
        }).On(Transport);
        var problems = Assert.Throws<StageOptionsException>(() => new TcpServerStage(With(value))).Problems;
        Assert.Equal($"TcpServerStageOptions.{StageOptionsException.Property(option)}: {expected}", Assert.Single(problems));
        // Written as a network, or (for proxies) as the one address, the same values are taken.
        var network = expected.Split("write the network as ")[1].Split(',')[0];
        await new TcpServerStage(option == "trusted_proxies" ? With(network, value.Split('/')[0]) : With(network)).DisposeAsync();
    }
}
