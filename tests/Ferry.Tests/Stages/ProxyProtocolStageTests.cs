using System.Net;
using System.Net.Sockets;
using System.Text;
using Ferry.Connections;
using Ferry.Framing;
using Ferry.Stages;
using Ferry.Tests.Support;
using Ferry.Tests.Transport;
using Ferry.Transport;

namespace Ferry.Tests.Stages;

/// <summary>
/// The PROXY protocol in front of the framing, over loopback: trusted proxies are 127.0.0.1, other
/// clients come from 127.0.0.2 (Linux routes all of 127.0.0.0/8 to lo).
/// </summary>
public abstract class ProxyProtocolStageTests(StageTransport transport)
{
    /// <summary>These tests on the epoll transport.</summary>
    public sealed class OnEpoll() : ProxyProtocolStageTests(StageTransport.Epoll);

    /// <summary>These tests on the portable stream transport.</summary>
    public sealed class OnStream() : ProxyProtocolStageTests(StageTransport.Stream);

    private TcpServerStageOptions Options(ProxyProtocol mode = ProxyProtocol.Any, string framing = "lines") => new TcpServerStageOptions
    {
        Bind = "127.0.0.1:0",
        Framing = FramingSpec.Parse(framing),
        ProxyProtocol = mode,
        TrustedProxies = ["127.0.0.1"],
    }.On(transport);

    private static byte[] Ascii(string text) => Encoding.ASCII.GetBytes(text);

    private static async Task<Socket> ConnectFromAsync(IPEndPoint server, string from)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        socket.Bind(new IPEndPoint(IPAddress.Parse(from), 0));
        await socket.ConnectAsync(server).WaitAsync(TimeSpan.FromSeconds(10));
        return socket;
    }

    /// <summary>Whether the server answered with a reset (true) rather than a FIN (false).</summary>
    internal static async Task<bool> ResetAsync(Socket socket)
    {
        try
        {
            var buffer = new byte[256];
            while (await socket.ReceiveAsync(buffer, SocketFlags.None).WaitAsync(TimeSpan.FromSeconds(10)) > 0)
            {
            }
            return false;
        }
        catch (SocketException e) when (e.SocketErrorCode == SocketError.ConnectionReset)
        {
            return true;
        }
    }

    private static async Task<bool> ClosedAsync(Socket socket)
    {
        try
        {
            var buffer = new byte[256];
            while (true)
            {
                var n = await socket.ReceiveAsync(buffer, SocketFlags.None).WaitAsync(TimeSpan.FromSeconds(10));
                if (n == 0)
                    return true;
            }
        }
        catch (SocketException)
        {
            return true; // reset
        }
    }

    [Theory]
    [InlineData("lines")]
    [InlineData("raw")]
    public async Task A_v1_header_makes_the_client_the_peer_and_keeps_the_proxy_as_via(string framing)
    {
        await using var h = new FerryTestServer(Options(framing: framing));
        await h.StartAsync();
        using var proxy = await ConnectFromAsync(h.EndPoint, "127.0.0.1");
        // The header and the client's first bytes in one segment, as HAProxy sends them.
        await proxy.SendAsync(Ascii("PROXY TCP4 192.0.2.10 198.51.100.1 56324 443\r\nhello\n"));
        var connected = await h.WaitForEventAsync<ConnectedEvent>();
        Assert.Equal(IPEndPoint.Parse("192.0.2.10:56324"), connected.Peer);
        Assert.Equal(proxy.LocalEndPoint, connected.Via);
        var packet = (await h.WaitForPacketsAsync(p => p.Count == 1, "the client's first bytes")).Single();
        Assert.Equal(framing == "raw" ? "hello\n" : "hello", Encoding.ASCII.GetString(packet.Payload));
        Assert.Equal(connected.Peer, packet.Peer);
        var row = h.Stage.GetConnections().Single();
        Assert.Equal((connected.Peer, connected.Via), (row.Peer, row.Via));

        await proxy.SendAsync(Ascii("world\n"));
        var second = await h.WaitForPacketsAsync(p => p.Sum(x => x.Payload.Length) >= (framing == "raw" ? 12 : 10), "more bytes after the header");
        Assert.All(second, p => Assert.Equal(connected.Peer, p.Peer));
        Assert.True(await h.Stage.SendAsync(connected.ConnectionId, Ascii("back")));
        var reply = new byte[framing == "raw" ? 4 : 5];
        Assert.Equal(reply.Length, await proxy.ReceiveAsync(reply, SocketFlags.None).WaitAsync(TimeSpan.FromSeconds(10)));
    }

    [Fact]
    public async Task A_v2_header_sent_one_byte_at_a_time_is_taken_whole()
    {
        await using var h = new FerryTestServer(Options(ProxyProtocol.V2));
        await h.StartAsync();
        using var proxy = await ConnectFromAsync(h.EndPoint, "127.0.0.1");
        var header = ProxyHeaderParserTests.V2Inet("2001:db8::7", 40000, "2001:db8::1", 9000, [0x04, 0x00, 0x02, 0x00, 0x00]);
        foreach (var b in header.Concat(Ascii("hi\n")))
        {
            await proxy.SendAsync(new[] { b });
            await Task.Yield();
        }
        var connected = await h.WaitForEventAsync<ConnectedEvent>();
        Assert.Equal(IPEndPoint.Parse("[2001:db8::7]:40000"), connected.Peer);
        var packet = (await h.WaitForPacketsAsync(p => p.Count == 1, "the line after the header")).Single();
        Assert.Equal("hi", Encoding.ASCII.GetString(packet.Payload));
    }

    [Fact]
    public async Task A_local_header_keeps_the_proxy_as_the_peer()
    {
        await using var h = new FerryTestServer(Options());
        await h.StartAsync();
        using var proxy = await ConnectFromAsync(h.EndPoint, "127.0.0.1");
        await proxy.SendAsync(ProxyHeaderParserTests.V2(0, 0x00, []));
        var connected = await h.WaitForEventAsync<ConnectedEvent>();
        Assert.Equal(proxy.LocalEndPoint, connected.Peer);
        Assert.Null(connected.Via);
    }

    [Theory]
    [InlineData(ProxyProtocol.Any, "hello\n", "expected a PROXY protocol v1 or v2 header, got 'hello")]
    [InlineData(ProxyProtocol.V2, "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n", "only v2 is accepted")]
    [InlineData(ProxyProtocol.V1, "PROXY TCP4 1.2.3.4 5.6.7.8 1 99999\r\n", "port")]
    public async Task A_trusted_proxy_without_a_valid_header_is_closed_and_counted(ProxyProtocol mode, string sent, string detail)
    {
        await using var h = new FerryTestServer(Options(mode));
        await h.StartAsync();
        using var proxy = await ConnectFromAsync(h.EndPoint, "127.0.0.1");
        await proxy.SendAsync(Ascii(sent));
        var closed = await h.WaitForEventAsync<DisconnectedEvent>();
        Assert.Equal("proxy_protocol", closed.ReasonName);
        Assert.Contains(detail, closed.Detail);
        Assert.True(await ClosedAsync(proxy));
        Assert.Empty(h.Events.OfType<ConnectedEvent>());
        Assert.Empty(h.Packets);
        Assert.Equal(1, h.Stage.GetStats().ProxyFailuresTotal);
    }

    /// <summary>As ProxyHeaderGate says: a peer that broke the protocol is reset (the stream transport sent a FIN).</summary>
    [Fact]
    public async Task A_refused_header_is_answered_with_a_reset()
    {
        await using var h = new FerryTestServer(Options());
        await h.StartAsync();
        using var proxy = await ConnectFromAsync(h.EndPoint, "127.0.0.1");
        await proxy.SendAsync(Ascii("hello\n"));
        Assert.Equal("proxy_protocol", (await h.WaitForEventAsync<DisconnectedEvent>()).ReasonName);
        Assert.True(await ResetAsync(proxy), "the refused proxy got a FIN, not a reset");
    }

    [Fact]
    public async Task An_untrusted_address_that_sends_a_header_is_closed_and_one_that_does_not_is_served()
    {
        await using var h = new FerryTestServer(Options());
        await h.StartAsync();
        using var spoofer = await ConnectFromAsync(h.EndPoint, "127.0.0.2");
        await spoofer.SendAsync(Ascii("PROXY TCP4 10.1.1.1 10.0.0.1 1000 443\r\nhi\n"));
        var closed = await h.WaitForEventAsync<DisconnectedEvent>();
        Assert.Equal(DisconnectReason.ProxyProtocol, closed.Reason);
        Assert.Contains("127.0.0.2, which is not in trusted_proxies", closed.Detail);
        Assert.True(await ClosedAsync(spoofer));

        using var direct = await ConnectFromAsync(h.EndPoint, "127.0.0.2");
        var connected = await h.WaitForConnectionAsync((IPEndPoint)direct.LocalEndPoint!);
        Assert.Equal(direct.LocalEndPoint, connected.Peer);
        Assert.Null(connected.Via);
        await direct.SendAsync(Ascii("plain\n"));
        var packet = (await h.WaitForPacketsAsync(p => p.Count == 1, "a direct client's line")).Single();
        Assert.Equal(direct.LocalEndPoint, packet.Peer);
        Assert.DoesNotContain(h.Packets, p => Encoding.ASCII.GetString(p.Payload) == "hi");
    }

    [Theory]
    [InlineData("lines", "PRO", "XY TCP4 10.1.1.1 10.0.0.1 1000 443\r\nhi\n")]
    [InlineData("raw", "PRO", "XY TCP4 10.1.1.1 10.0.0.1 1000 443\r\nhi\n")]
    [InlineData("lines", "PROXY", " TCP4 10.1.1.1 10.0.0.1 1000 443\r\nhi\n")]
    [InlineData("raw", "\r\n\r\n", "\0\r\nQUIT\n!\x11\0\x0c")]
    public async Task An_untrusted_header_split_across_reads_is_refused_as_a_whole_one_is(string framing, string first, string rest)
    {
        await using var h = new FerryTestServer(Options(framing: framing));
        await h.StartAsync();
        using var spoofer = await ConnectFromAsync(h.EndPoint, "127.0.0.2");
        await spoofer.SendAsync(Ascii(first));
        // The first piece is read on its own before the rest is sent.
        await Poll.UntilAsync(() => h.Stage.GetStats().BytesReceivedTotal >= first.Length, "the first piece read");
        await spoofer.SendAsync(Ascii(rest));
        var closed = await h.WaitForEventAsync<DisconnectedEvent>();
        Assert.Equal(DisconnectReason.ProxyProtocol, closed.Reason);
        Assert.Contains("127.0.0.2, which is not in trusted_proxies", closed.Detail);
        Assert.True(await ClosedAsync(spoofer));
        Assert.Empty(h.Packets);
    }

    [Theory]
    [InlineData("lines", "PRINT hi")]
    [InlineData("raw", "PRINT hi\n")]
    public async Task An_untrusted_clients_first_bytes_held_while_they_could_begin_a_header_are_delivered_whole(string framing, string expected)
    {
        await using var h = new FerryTestServer(Options(framing: framing));
        await h.StartAsync();
        using var client = await ConnectFromAsync(h.EndPoint, "127.0.0.2");
        await client.SendAsync(Ascii("PR"));
        await Poll.UntilAsync(() => h.Stage.GetStats().BytesReceivedTotal >= 2, "the first piece read");
        Assert.Empty(h.Packets);
        await client.SendAsync(Ascii("INT hi\n"));
        var packets = await h.WaitForPacketsAsync(p => p.Sum(x => x.Payload.Length) >= expected.Length, "the client's bytes");
        Assert.Equal(expected, string.Concat(packets.Select(p => Encoding.ASCII.GetString(p.Payload))));
        Assert.All(packets, p => Assert.Equal(client.LocalEndPoint, p.Peer));
    }

    [Fact]
    public async Task A_header_that_does_not_come_in_time_closes_the_connection_on_the_stage_clock()
    {
        var time = new StageTime();
        await using var h = new FerryTestServer(Options() with { ProxyHeaderTimeout = TimeSpan.FromSeconds(5) }, time: time);
        await h.StartAsync();
        using var proxy = await ConnectFromAsync(h.EndPoint, "127.0.0.1");
        await proxy.SendAsync(Ascii("PROXY TCP4 1.2.3.4"));
        await Poll.UntilAsync(() => h.Stage.ConnectionCount == 1, "the proxy's connection");
        time.Advance(TimeSpan.FromSeconds(4));
        await h.SettleAsync();
        Assert.Empty(h.Events.OfType<DisconnectedEvent>());
        time.Advance(TimeSpan.FromSeconds(2));
        var closed = await h.WaitForEventAsync<DisconnectedEvent>();
        Assert.Equal("proxy_header_timeout", closed.ReasonName);
        Assert.Contains("within 5000 ms", closed.Detail);
        Assert.Equal(1, h.Stage.GetStats().ProxyFailuresTotal);
    }

    [Fact]
    public async Task Per_address_limits_and_deny_lists_apply_to_the_real_client_at_the_header()
    {
        await using var h = new FerryTestServer(Options() with { MaxConnectionsPerIp = 1, DenyFrom = ["198.51.100.0/24"] });
        await h.StartAsync();
        // Many clients through one proxy: the proxy itself is not limited as one address.
        using var a = await ConnectFromAsync(h.EndPoint, "127.0.0.1");
        await a.SendAsync(Ascii("PROXY TCP4 192.0.2.1 10.0.0.1 1000 443\r\n"));
        using var b = await ConnectFromAsync(h.EndPoint, "127.0.0.1");
        await b.SendAsync(Ascii("PROXY TCP4 192.0.2.2 10.0.0.1 1000 443\r\n"));
        await Poll.UntilAsync(() => h.Events.OfType<ConnectedEvent>().Count() == 2, "two clients through one proxy");

        using var again = await ConnectFromAsync(h.EndPoint, "127.0.0.1");
        await again.SendAsync(Ascii("PROXY TCP4 192.0.2.1 10.0.0.1 1001 443\r\n"));
        var limited = await h.WaitForEventAsync<DisconnectedEvent>(e => e.Reason == DisconnectReason.IpLimit);
        Assert.Contains("max_connections_per_ip 1 reached for 192.0.2.1", limited.Detail);
        Assert.Contains("via 127.0.0.1", limited.Detail);
        Assert.Equal(IPEndPoint.Parse("192.0.2.1:1001"), limited.Peer);
        Assert.True(await ClosedAsync(again));

        using var denied = await ConnectFromAsync(h.EndPoint, "127.0.0.1");
        await denied.SendAsync(Ascii("PROXY TCP4 198.51.100.9 10.0.0.1 1000 443\r\n"));
        var refused = await h.WaitForEventAsync<DisconnectedEvent>(e => e.Reason == DisconnectReason.Denied);
        Assert.Contains("198.51.100.9 is in deny_from", refused.Detail);

        // The first client leaving frees its place; counts are kept by the real address.
        a.Dispose();
        await Poll.UntilAsync(() => h.Stage.ConnectionCount == 1, "the first client gone");
        using var back = await ConnectFromAsync(h.EndPoint, "127.0.0.1");
        await back.SendAsync(Ascii("PROXY TCP4 192.0.2.1 10.0.0.1 1002 443\r\n"));
        await Poll.UntilAsync(() => h.Events.OfType<ConnectedEvent>().Count() == 3, "192.0.2.1 back");
        var stats = h.Stage.GetStats();
        Assert.Equal(2, stats.RejectedTotal);
        Assert.Equal(0, stats.ProxyFailuresTotal);
        // Refused at the header counts as rejected and closed, as a refusal at accept does: the two refused and the first client.
        Assert.Equal(3, stats.ClosedTotal);
        Assert.Equal(stats.AcceptedTotal, stats.ConnectionsNow + stats.ClosedTotal);
    }
}

/// <summary>The PROXY header comes in the clear before the TLS handshake (both server TLS engines).</summary>
/// <param name="serverTransport">The server stage's transport: SslStream on streams, OpenSSL on epoll.</param>
public abstract class ProxyProtocolTlsTests(StageTransport serverTransport)
{
    public sealed class OnStream() : ProxyProtocolTlsTests(StageTransport.Stream);

    public sealed class OnEpoll() : ProxyProtocolTlsTests(StageTransport.Epoll);

    private TcpServerStageOptions Options() => new()
    {
        Bind = "127.0.0.1:0",
        Transport = serverTransport,
        Framing = FramingSpec.Parse("lines"),
        ProxyProtocol = ProxyProtocol.Any,
        TrustedProxies = ["127.0.0.0/30"],
        Tls = new TlsOptions { Secure = true, Certificate = TestCertificates.ServerCertificate },
    };

    [Fact]
    public async Task A_v2_header_then_tls_gives_a_secured_connection_from_the_real_client()
    {
        await using var h = new FerryTestServer(Options());
        await h.StartAsync();
        var header = ProxyHeaderParserTests.V2Inet("203.0.113.9", 51000, "10.0.0.1", 443);
        await using var client = await FramedTestClient.ConnectAsync(h.EndPoint, TestCertificates.TrustingClient() with { Preface = header });
        var connected = await h.WaitForEventAsync<ConnectedEvent>();
        Assert.Equal(IPEndPoint.Parse("203.0.113.9:51000"), connected.Peer);
        Assert.Equal(client.LocalEndPoint, connected.Via);
        Assert.NotNull(connected.Tls);
        await client.SendAsync("over tls\n"u8.ToArray());
        var packet = (await h.WaitForPacketsAsync(p => p.Count == 1, "a line over TLS")).Single();
        Assert.Equal("over tls", Encoding.ASCII.GetString(packet.Payload));
        Assert.Equal(connected.Peer, packet.Peer);
    }

    [Fact]
    public async Task A_v1_header_then_tls_works_too_and_a_denied_client_costs_no_handshake()
    {
        await using var h = new FerryTestServer(Options() with { DenyFrom = ["192.0.2.66/32"] });
        await h.StartAsync();
        await using (var client = await FramedTestClient.ConnectAsync(h.EndPoint, TestCertificates.TrustingClient() with { Preface = Encoding.ASCII.GetBytes("PROXY TCP4 192.0.2.1 10.0.0.1 1000 443\r\n") }))
        {
            var connected = await h.WaitForEventAsync<ConnectedEvent>();
            Assert.Equal(IPEndPoint.Parse("192.0.2.1:1000"), connected.Peer);
        }
        await Assert.ThrowsAnyAsync<Exception>(() => FramedTestClient.ConnectAsync(h.EndPoint, TestCertificates.TrustingClient() with { Preface = Encoding.ASCII.GetBytes("PROXY TCP4 192.0.2.66 10.0.0.1 1000 443\r\n") }));
        var denied = await h.WaitForEventAsync<DisconnectedEvent>(e => e.Reason == DisconnectReason.Denied);
        Assert.Contains("192.0.2.66 is in deny_from", denied.Detail);
        Assert.Equal(0, h.Stage.GetStats().TlsFailuresTotal);
    }

    [Fact]
    public async Task A_header_from_an_untrusted_address_under_tls_is_refused_before_the_handshake()
    {
        await using var h = new FerryTestServer(Options() with { TrustedProxies = ["10.0.0.0/8"] });
        await h.StartAsync();
        await Assert.ThrowsAnyAsync<Exception>(() => FramedTestClient.ConnectAsync(h.EndPoint, TestCertificates.TrustingClient() with { Preface = Encoding.ASCII.GetBytes("PROXY TCP4 192.0.2.1 10.0.0.1 1000 443\r\n") }));
        var refused = await h.WaitForEventAsync<DisconnectedEvent>();
        Assert.Equal("proxy_protocol", refused.ReasonName);
        Assert.Contains("not in trusted_proxies", refused.Detail);
        // A direct TLS client from the same address is served.
        await using var direct = await FramedTestClient.ConnectAsync(h.EndPoint, TestCertificates.TrustingClient());
        var connected = await h.WaitForConnectionAsync(direct.LocalEndPoint);
        Assert.Null(connected.Via);
    }

    /// <summary>
    /// Shorter than the shortest header (15 bytes) and already wrong: refused at once, with a reset. The stream
    /// transport waited for a 15th byte, so only the header timeout closed it; the clock here never moves.
    /// </summary>
    [Fact]
    public async Task A_malformed_header_shorter_than_the_shortest_one_is_refused_at_once_with_a_reset()
    {
        await using var h = new FerryTestServer(Options(), time: new StageTime());
        await h.StartAsync();
        using var proxy = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await proxy.ConnectAsync(h.EndPoint);
        await proxy.SendAsync(Encoding.ASCII.GetBytes("PROXY TCP9 x\r\n"));
        var refused = await h.WaitForEventAsync<DisconnectedEvent>();
        Assert.Equal("proxy_protocol", refused.ReasonName);
        Assert.True(await ProxyProtocolStageTests.ResetAsync(proxy), "the refused proxy got a FIN, not a reset");
        var stats = h.Stage.GetStats();
        Assert.Equal(1, stats.ProxyFailuresTotal);
        Assert.Equal(0, stats.TlsFailuresTotal);
    }

    /// <summary>No handshake has begun while the header is incomplete: a reset then is a reset, not a TLS failure.</summary>
    [Fact]
    public async Task A_trusted_proxy_reset_inside_its_header_is_a_reset_and_no_tls_failure()
    {
        await using var h = new FerryTestServer(Options(), time: new StageTime());
        await h.StartAsync();
        using (var proxy = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp))
        {
            await proxy.ConnectAsync(h.EndPoint);
            await proxy.SendAsync(Encoding.ASCII.GetBytes("PROXY TCP4 1.2"));
            proxy.LingerState = new LingerOption(true, 0);
        }
        var closed = await h.WaitForEventAsync<DisconnectedEvent>();
        Assert.Equal(DisconnectReason.Reset, closed.Reason);
        Assert.Equal("reset", closed.ReasonName);
        Assert.Equal(0, h.Stage.GetStats().TlsFailuresTotal);
    }
}
