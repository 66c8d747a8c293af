using Ferry.Connections;
using Ferry.Framing;
using Ferry.Stages;
using Ferry.Testing;
using Ferry.Tests.Support;
using Ferry.Transport;

namespace Ferry.Tests.Transport;

/// <summary>
/// A TLS connection the stage closes while its socket is full (the client does not read): the close_notify cannot go out
/// at the close, behind answers the client has not taken yet. It must still reach the client after every answer, once the
/// client reads: a session that ends without it is a truncation to an OpenSSL 3 client ("unexpected eof while reading"),
/// which SslStream does not tell from a proper end, so the client here is OpenSSL itself.
/// </summary>
public sealed class TlsCloseNotifyWhenFullTests
{
    private const int Answers = 512;
    private const int AnswerBytes = 1024;

    public sealed class OpenSslClientFactAttribute : TheoryAttribute
    {
        public OpenSslClientFactAttribute()
        {
            if (!OpenSslSocketClient.IsAvailable)
                Skip = "libssl.so.3 is not available";
        }
    }

    [OpenSslClientFact]
    [InlineData(StageTransport.Epoll, false)]
    [InlineData(StageTransport.Epoll, true)]
    [InlineData(StageTransport.Stream, false)]
    [InlineData(StageTransport.Stream, true)]
    public async Task A_client_that_reads_late_gets_every_answer_then_a_close_notify(StageTransport transport, bool idleTimeout)
    {
        var time = new StageTime();
        var idle = TimeSpan.FromSeconds(30);
        await using var h = new FerryTestServer(new TcpServerStageOptions
        {
            Bind = "127.0.0.1:0",
            Transport = transport,
            Framing = FramingSpec.Parse("lines"),
            IdleTimeout = idleTimeout ? idle : TimeSpan.Zero,
            // A small send buffer: most answers cannot be handed to the kernel, the socket is full at the close.
            Socket = new TcpSocketOptions { SendBufferSize = 16 * 1024 },
            Tls = new TlsOptions { Secure = true, Certificate = TestCertificates.ServerCertificate },
        }, recordPackets: false, time: time);
        await h.StartAsync();
        using var client = new OpenSslSocketClient();
        client.Socket.ReceiveBufferSize = 4 * 1024; // and a small window
        await client.ConnectAsync(h.EndPoint);
        client.Write("hello\n"u8);
        var connected = await h.WaitForEventAsync<ConnectedEvent>();
        // The idle timeout runs from the last receive: the hello is read before the clock moves (read after, under load, it
        // restarted the timeout at the moved time, which then never came).
        await Poll.UntilAsync(() => h.Stage.GetStats().BytesReceivedTotal >= 6, "the client's hello read");

        // Answers the client does not read: the socket fills up, the rest waits in the stage.
        var answer = new byte[AnswerBytes - 1];
        answer.AsSpan().Fill((byte)'a');
        for (var i = 0; i < Answers; i++)
            await h.Stage.SendAsync(connected.ConnectionId, answer);
        // Half a megabyte against a few dozen KiB of kernel buffers: at the close the socket is full, whatever it took by then.
        await Poll.UntilAsync(() => h.Stage.GetStats().BytesSentTotal >= 4 * AnswerBytes, "answers handed to the socket");

        if (idleTimeout)
        {
            time.Advance(idle + TimeSpan.FromSeconds(5));
            Assert.Equal(DisconnectReason.IdleTimeout, (await h.WaitForDisconnectAsync(connected.ConnectionId)).Reason);
        }
        else
        {
            Assert.True(h.Stage.Close(connected.ConnectionId));
            await h.WaitForDisconnectAsync(connected.ConnectionId);
        }
        var stats = h.Stage.GetStats();
        Assert.True(stats.LingeringNow == 1, "the close waits for the client to take what it is owed");

        // Late, the client reads: every answer the stage wrote (the rest was dropped at the close, and counted), then close_notify.
        var received = await Task.Run(() => client.ReadToEnd(out var closeNotify, out var error) is var n && closeNotify ? n : -error - 1);
        Assert.True(received >= 0, $"the session ended without close_notify (SSL_get_error {-received - 1})");
        Assert.Equal(0, received % AnswerBytes);
        Assert.True(received >= 4 * AnswerBytes, $"only {received} bytes of answers");
        Assert.True(stats.EgressBytesDroppedTotal > 0, "the socket was not full at the close");
        // What the stage counted as sent is exactly what the client got: nothing lost, and nothing counted dropped that went
        // out (on epoll, TLS reports the last byte of a write whose ciphertext the socket did not take as not taken, so
        // that the writer comes back; the close sends that ciphertext, and counts the byte sent).
        // Read once the client has everything: the lingering close may hand the socket the rest after the snapshot above.
        var sent = h.Stage.GetStats().BytesSentTotal;
        Assert.True(received == sent, $"received {received}, sent {sent} (at the close {stats.BytesSentTotal}), dropped {stats.EgressBytesDroppedTotal}");

        // The client closes: the lingering close ends.
        client.Socket.Close();
        await Poll.UntilAsync(() => h.Stage.GetStats().LingeringNow == 0, "the lingering close ended by the client's close");
    }
}
