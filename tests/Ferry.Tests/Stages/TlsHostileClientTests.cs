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
}
