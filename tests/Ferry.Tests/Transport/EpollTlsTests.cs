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

    [Fact]
    public async Task A_client_that_asks_for_key_updates_and_never_reads_the_answers_is_closed_before_they_pile_up()
    {
        // Each TLS 1.3 KeyUpdate that asks for one back makes OpenSSL write an answer, which waited in the
        // connection's kept ciphertext when the socket was full: outside the egress buffer and its overflow policy,
        // so a client sending key updates and reading nothing grew the server's memory as fast as it sent (22 bytes
        // kept for every 22 sent, without end). It is closed as a TLS failure once what waits passes a bound.
        await using var h = new FerryTestServer(Options() with { Socket = new TcpSocketOptions { SendBufferSize = 8 * 1024 } });
        await h.StartAsync();
        using var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { ReceiveBufferSize = 4 * 1024 };
        await socket.ConnectAsync(h.EndPoint);
        using var context = Ferry.Transport.Tls.OpenSsl.SslContextHandle.CreateClient(System.Security.Authentication.SslProtocols.Tls13);
        using var session = new Ferry.Transport.Tls.OpenSsl.TlsRecordSession(context, server: false);
        await ClientHandshakeAsync(socket, session);
        var id = (await h.WaitForEventAsync<ConnectedEvent>()).ConnectionId;

        var closed = h.WaitForDisconnectAsync(id, TimeSpan.FromSeconds(60));
        var sent = 0L;
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while (!closed.IsCompleted && DateTime.UtcNow < deadline && sent < 64L * 1024 * 1024)
        {
            var burst = KeyUpdates(session, 256);
            try
            {
                await socket.SendAsync(burst).WaitAsync(TimeSpan.FromSeconds(1));
            }
            catch (Exception ex) when (ex is SocketException or TimeoutException)
            {
                break; // the server stopped taking them (closed, or no longer reading)
            }
            sent += burst.Length;
        }
        var e = await closed;
        Assert.Equal(DisconnectReason.TlsError, e.Reason);
        Assert.Contains("does not read", e.Detail);
        Assert.Equal(0, h.Stage.GetStats().TlsFailuresTotal); // after the handshake: a close reason, not a failed handshake
    }

    /// <summary><paramref name="count"/> key updates that each ask for one back, as ciphertext.</summary>
    private static unsafe byte[] KeyUpdates(Ferry.Transport.Tls.OpenSsl.TlsRecordSession session, int count)
    {
        var bytes = new List<byte>();
        for (var i = 0; i < count; i++)
        {
            Assert.Equal(1, Ferry.Transport.Tls.OpenSsl.LibSsl.SSL_key_update(session.Handle.Ssl, 1 /* SSL_KEY_UPDATE_REQUESTED */));
            Assert.Equal(Ferry.Transport.Tls.OpenSsl.TlsRecordSession.Step.Done, session.Handshake(out _));
            bytes.AddRange(session.Output.ToArray());
            session.Consumed(session.OutLength);
        }
        return [.. bytes];
    }

    private static async Task ClientHandshakeAsync(Socket socket, Ferry.Transport.Tls.OpenSsl.TlsRecordSession session)
    {
        var buffer = GC.AllocateUninitializedArray<byte>(64 * 1024, pinned: true);
        var received = 0;
        using var cancel = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        while (true)
        {
            var step = Step(session, buffer, received);
            received = 0;
            if (session.OutLength > 0)
            {
                await socket.SendAsync(session.Output.ToArray(), cancel.Token);
                session.Consumed(session.OutLength);
            }
            if (step == Ferry.Transport.Tls.OpenSsl.TlsRecordSession.Step.Done)
                return;
            Assert.NotEqual(Ferry.Transport.Tls.OpenSsl.TlsRecordSession.Step.Failed, step);
            received = await socket.ReceiveAsync(buffer, cancel.Token);
            Assert.True(received > 0, "the server closed during the handshake");
        }
    }

    private static unsafe Ferry.Transport.Tls.OpenSsl.TlsRecordSession.Step Step(Ferry.Transport.Tls.OpenSsl.TlsRecordSession session, byte[] buffer, int received)
    {
        fixed (byte* p = buffer)
        {
            session.Feed(p, received);
            var step = session.Handshake(out _);
            session.Feed(null, 0); // what follows the server's Finished (its tickets) is never read
            return step;
        }
    }
}
