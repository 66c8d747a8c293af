using System.Net.Sockets;
using Ferry.Connections;
using Ferry.Framing;
using Ferry.Stages;
using Ferry.Tests.Support;
using Ferry.Transport;

namespace Ferry.Tests.Stages;

/// <summary>
/// TLS clients that play against the server's limits rather than talk: a hello followed by a reset. Each
/// must cost the stage no more than a plain connection would, on both server TLS engines (SslStream on
/// streams, OpenSSL on epoll). The stage clock is fake and stands still unless a test moves it, so a
/// connection that goes has gone for what it did, not for a deadline.
/// </summary>
/// <param name="transport">The server stage's transport.</param>
public abstract class TlsHostileClientTests(StageTransport transport)
{
    public sealed class OnStream() : TlsHostileClientTests(StageTransport.Stream);

    public sealed class OnEpoll() : TlsHostileClientTests(StageTransport.Epoll);

    private TcpServerStageOptions Server() => new()
    {
        Bind = "127.0.0.1:0",
        Framing = FramingSpec.Parse("lines"),
        Transport = transport,
        MaxConnections = 0,
        // Far beyond any wait in the test, and on a clock that does not move: no deadline closes anything here.
        Tls = new TlsOptions { Secure = true, Certificate = TestCertificates.ServerCertificate, HandshakeTimeout = TimeSpan.FromSeconds(60) },
    };

    [Fact]
    public async Task A_client_hello_followed_by_a_reset_is_closed_at_once_as_a_tls_failure()
    {
        // The server answers the hello into a socket the peer has reset: the answer's failed send must end the
        // handshake. It used to be retried every loop round until the handshake deadline, a slot held all along.
        var time = new StageTime();
        await using var h = new FerryTestServer(Server(), time: time);
        await h.StartAsync();
        var hello = await ClientHello.CaptureAsync();
        const int attempts = 10;
        for (var i = 0; i < attempts; i++)
        {
            using var socket = new Socket(SocketType.Stream, ProtocolType.Tcp);
            await socket.ConnectAsync(h.EndPoint);
            await socket.SendAsync(hello);
            socket.LingerState = new LingerOption(true, 0);
            socket.Close();
        }

        await Poll.UntilAsync(() => h.Events.OfType<DisconnectedEvent>().Count() == attempts && h.Stage.ConnectionCount == 0,
            $"the {attempts} reset clients to be closed without the handshake deadline (fake clock at +{time.ElapsedMs} ms)",
            seen: () => $"{h.Stage.ConnectionCount} connections, {h.Events.OfType<DisconnectedEvent>().Count()} closed");
        Assert.All(h.Events.OfType<DisconnectedEvent>(), e =>
        {
            Assert.Equal(DisconnectReason.TlsError, e.Reason);
            Assert.StartsWith("tls handshake failed: ", e.Detail);
        });
        Assert.Equal(attempts, h.Stage.GetStats().TlsFailuresTotal);

        // The stage goes on serving real clients.
        await using var client = await FramedTestClient.ConnectAsync(h.EndPoint, TestCertificates.TrustingClient());
        await client.SendAsync("still here\n"u8.ToArray());
        await h.WaitForPacketsAsync(1);
    }

    [Fact]
    public async Task A_stream_that_does_not_open_as_a_tls_client_is_refused_in_words_that_say_so()
    {
        // SslStream's words for a ClientHello whose type byte is wrong were "The server mode SSL must use a certificate with
        // the associated private key": the operator went looking at the server's certificate.
        var time = new StageTime();
        await using var h = new FerryTestServer(Server(), time: time);
        await h.StartAsync();
        var notAHello = await ClientHello.CaptureAsync();
        notAHello[5] = 0xFE;
        var plainText = "GET / HTTP/1.1\r\nHost: x\r\n\r\n"u8.ToArray();
        var details = new List<string>();
        foreach (var opening in new[] { notAHello, plainText })
        {
            using var socket = new Socket(SocketType.Stream, ProtocolType.Tcp);
            await socket.ConnectAsync(h.EndPoint);
            var port = ((System.Net.IPEndPoint)socket.LocalEndPoint!).Port;
            await socket.SendAsync(opening);
            var closed = await h.WaitForEventAsync<DisconnectedEvent>(e => e.Peer.Port == port);
            Assert.Equal(DisconnectReason.TlsError, closed.Reason);
            Assert.StartsWith("tls handshake failed: ", closed.Detail);
            Assert.DoesNotContain("private key", closed.Detail);
            details.Add(closed.Detail!);
        }
        if (transport == StageTransport.Stream)
        {
            Assert.Equal("tls handshake failed: the client's first handshake message is not a ClientHello (message type 254, where a ClientHello is 1)", details[0]);
            Assert.Equal("tls handshake failed: the client's first bytes are not a TLS handshake record (a record type of 71, 0x47, where 22 begins a handshake; a client not speaking TLS?)", details[1]);
        }
        Assert.Equal(2, h.Stage.GetStats().TlsFailuresTotal);
    }

    [Fact]
    public async Task A_tls_record_trickled_in_is_closed_at_frame_timeout_counted_from_its_first_byte()
    {
        // Until a record is whole no plaintext reaches the framing, so no frame has begun in the stage's eyes:
        // the deadline used to never start, and a few such clients held a server's every slot.
        var time = new StageTime();
        await using var h = new FerryTestServer(Server() with { FrameTimeout = TimeSpan.FromSeconds(30) }, time: time);
        await h.StartAsync();
        await using var quiet = await TricklingTlsClient.ConnectAsync(h.EndPoint);
        var quietId = (await h.WaitForEventAsync<ConnectedEvent>()).ConnectionId;
        await using var slow = await TricklingTlsClient.ConnectAsync(h.EndPoint);
        var slowId = (await h.WaitForEventAsync<ConnectedEvent>(e => e.ConnectionId != quietId)).ConnectionId;

        // The quiet one sends one whole line and then nothing: it holds no record, so no deadline runs for it.
        await quiet.SendRawAsync(await quiet.SealAsync("whole\n"u8.ToArray()));
        await h.WaitForPacketsAsync(1);
        // The slow one sends a record's header and three bytes of its body.
        var record = await slow.SealAsync("never finished\n"u8.ToArray());
        await slow.SendRawAsync(record.AsMemory(0, 8));
        await Poll.UntilAsync(() => HoldsPartialRecord(h, slowId), "the server to hold the slow client's unfinished record");

        await time.AdvanceInStepsAsync(TimeSpan.FromSeconds(20), TimeSpan.FromSeconds(5), h);
        await slow.SendRawAsync(record.AsMemory(8, 2)); // more of the same record: its deadline does not move
        await time.AdvanceInStepsAsync(TimeSpan.FromSeconds(9), TimeSpan.FromSeconds(3), h);
        Assert.Empty(h.Events.OfType<DisconnectedEvent>());

        await time.AdvanceInStepsAsync(TimeSpan.FromSeconds(2), TimeSpan.FromSeconds(1), h);
        var closed = await h.WaitForDisconnectAsync(slowId);
        Assert.Equal(DisconnectReason.FrameTimeout, closed.Reason);
        Assert.StartsWith("a TLS record begun ", closed.Detail);
        Assert.EndsWith("is still incomplete, no plaintext from it yet (frame_timeout 30000 ms)", closed.Detail);

        // A minute more: the quiet client, whose records were all whole, stays.
        await time.AdvanceInStepsAsync(TimeSpan.FromSeconds(60), TimeSpan.FromSeconds(10), h);
        Assert.DoesNotContain(h.Events.OfType<DisconnectedEvent>(), e => e.ConnectionId == quietId);
        Assert.Equal(1, h.Stage.ConnectionCount);
    }

    [Theory]
    [InlineData("a record longer than TLS allows")]
    [InlineData("cleartext after the handshake")]
    [InlineData("a record that does not decrypt")]
    public async Task A_bad_record_after_the_handshake_is_a_tls_error_that_says_what_was_wrong(string what)
    {
        // The stream transport said "tls error: The decryption operation failed, see inner exception." (or "The read
        // operation failed, ..."): the operator never sees that exception. The detail is its innermost cause, OpenSSL's
        // reason, as on epoll.
        await using var h = new FerryTestServer(Server());
        await h.StartAsync();
        await using var client = await FramedTestClient.ConnectAsync(h.EndPoint, TestCertificates.TrustingClient());
        var id = (await h.WaitForConnectionAsync(client.LocalEndPoint)).ConnectionId;
        await client.SendAsync("fine\n"u8.ToArray());
        await h.WaitForPacketsAsync(1);
        byte[] bytes = what switch
        {
            "a record longer than TLS allows" => [0x17, 0x03, 0x03, 0xff, 0xff, .. new byte[0xffff]],
            "cleartext after the handshake" => "GET / HTTP/1.1\r\n\r\n"u8.ToArray(),
            _ => [0x17, 0x03, 0x03, 0x00, 0x20, .. Enumerable.Range(1, 32).Select(i => (byte)i)],
        };
        await client.Socket.SendAsync(bytes);
        var closed = await h.WaitForDisconnectAsync(id);
        Assert.True(closed.Reason == DisconnectReason.TlsError, $"{what}: {closed.Reason} {closed.Detail}");
        Assert.StartsWith("tls error: ", closed.Detail);
        Assert.DoesNotContain("inner exception", closed.Detail);
        Assert.Contains("error:", closed.Detail); // OpenSSL's code and words
        Assert.Equal(0, h.Stage.GetStats().TlsFailuresTotal); // the handshake succeeded: a close reason, not a failed handshake
    }

    private static bool HoldsPartialRecord(FerryTestServer h, ConnectionId id)
        => h.Stage.Core.Table.Snapshot().SingleOrDefault(c => c.Id == id) is { } c && c.Io.HoldsPartialRecord(out _);
}
