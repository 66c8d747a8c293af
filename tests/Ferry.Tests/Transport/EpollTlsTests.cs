using System.Net.Sockets;
using System.Text;
using Ferry.Connections;
using Ferry.Framing;
using Ferry.Stages;
using Ferry.Tests.Support;
using Ferry.Transport;
using Ferry.Transport.Epoll;

namespace Ferry.Tests.Transport;

/// <summary>
/// What only the epoll transport's TLS engine (OpenSSL driven by the service thread) has to show: its
/// OpenSSL objects are freed however a connection ends, kept ciphertext keeps the stage's egress exact,
/// and bytes that are not TLS are refused with OpenSSL's reason. The behaviour both engines share is in
/// <see cref="Stages.TlsStageTests"/> and the other TLS test classes, run on both.
/// </summary>
public sealed class EpollTlsTests
{
    private static TcpServerStageOptions Options(string framing = "lines") => new()
    {
        Bind = "127.0.0.1:0",
        Framing = FramingSpec.Parse(framing),
        Transport = StageTransport.Epoll,
        MaxConnections = 0,
        Tls = new TlsOptions { Secure = true, Certificate = TestCertificates.ServerCertificate, HandshakeTimeout = TimeSpan.FromSeconds(30) },
    };

    private static Ferry.Transport.Tls.OpenSsl.LiveCount Sessions(FerryTestServer h) => ((EpollTransport)h.Stage.Core.Transport).Tls!.Sessions;

    [Fact]
    public async Task Every_openssl_session_is_freed_however_its_connection_ends()
    {
        await using var h = new FerryTestServer(Options());
        await h.StartAsync();
        var sessions = Sessions(h);

        // Established, talking, then closed by the client.
        var held = new List<FramedTestClient>();
        for (var i = 0; i < 20; i++)
        {
            var client = await FramedTestClient.ConnectAsync(h.EndPoint, TestCertificates.TrustingClient());
            await client.SendAsync("line\n"u8.ToArray());
            held.Add(client);
        }
        await Poll.UntilAsync(() => h.Stage.GetStats().PacketsReceivedTotal == 20, "a line from each of 20 TLS clients");
        Assert.Equal(20, sessions.Value);

        // Closed in the middle of the handshake (half a ClientHello), right after connecting, and refused (not TLS).
        for (var i = 0; i < 20; i++)
        {
            using var half = new Socket(SocketType.Stream, ProtocolType.Tcp);
            await half.ConnectAsync(h.EndPoint);
            await half.SendAsync(new byte[] { 0x16, 0x03, 0x01, 0x01, 0x00, 0x01, 0x00, 0x00, 0xfc, 0x03, 0x03 });
            using var silent = new Socket(SocketType.Stream, ProtocolType.Tcp);
            await silent.ConnectAsync(h.EndPoint);
            using var http = new Socket(SocketType.Stream, ProtocolType.Tcp);
            await http.ConnectAsync(h.EndPoint);
            await http.SendAsync("GET / HTTP/1.1\r\nHost: x\r\n\r\n"u8.ToArray());
            await Poll.UntilAsync(() => h.Stage.GetStats().AcceptedTotal >= 20 + 3 * (i + 1), "the three short-lived connections");
        }
        foreach (var client in held)
            await client.DisposeAsync();
        // The stage server side closes too (handshake deadline not needed: every client above has gone).
        await Poll.UntilAsync(() => h.Stage.ConnectionCount == 0, "every connection to close", TimeSpan.FromSeconds(30));
        Assert.Equal(0, sessions.Value);
        var refused = h.Events.OfType<DisconnectedEvent>().Where(e => e.Reason == DisconnectReason.TlsError).ToList();
        Assert.True(refused.Count >= 40, $"{refused.Count} TLS failures (half handshakes and HTTP requests)");
        Assert.Contains(refused, e => e.Detail!.StartsWith("tls handshake failed: ") && e.Detail.Contains("http request"));
        Assert.Contains(refused, e => e.Detail == "tls handshake failed: the client closed the connection during the handshake");
    }

    [Fact]
    public async Task A_client_that_does_not_read_gets_every_byte_in_order_once_it_does()
    {
        // Far more than the socket buffers hold: sends are cut short, ciphertext is kept and resent.
        await using var h = new FerryTestServer(Options("u32be") with { EgressBufferBytes = 64 * 1024 * 1024 });
        await h.StartAsync();
        await using var client = await FramedTestClient.ConnectAsync(h.EndPoint, TestCertificates.TrustingClient());
        var connected = await h.WaitForConnectionAsync(client.LocalEndPoint);
        const int messages = 400;
        var expected = new MemoryStream();
        for (var i = 0; i < messages; i++)
        {
            var payload = Encoding.ASCII.GetBytes($"{i:D6}" + new string((char)('a' + i % 26), 16 * 1024 + i));
            Assert.True(await h.Stage.SendAsync(connected.ConnectionId, payload));
            var header = new byte[4];
            System.Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(header, (uint)payload.Length);
            expected.Write(header);
            expected.Write(payload);
        }
        var received = await client.ReceiveExactlyAsync((int)expected.Length);
        Assert.Equal(expected.ToArray(), received);
        // Counted as sent exactly once each: a byte held back for kept ciphertext is not counted twice.
        await Poll.UntilAsync(() => h.Stage.GetStats().BytesSentTotal == expected.Length, "the sent bytes to be counted");
    }
}
