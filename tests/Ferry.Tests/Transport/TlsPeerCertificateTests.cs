using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using Ferry.Tests.Support;
using Ferry.Transport.Tls;

namespace Ferry.Tests.Transport;

/// <summary>
/// The stream transport's TLS (SslStream) describes each connection's peer certificate for the connected event. Reading
/// <see cref="SslStream.RemoteCertificate"/> makes the reader its owner (the stream then no longer disposes it), so the
/// description must release it: otherwise every client stage connection and every mutual-TLS server connection leaves a
/// native certificate for the finalizer.
/// </summary>
public sealed class TlsPeerCertificateTests
{
    [Fact]
    public async Task Describing_a_connection_releases_the_peer_certificate_on_both_sides()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        using var clientSocket = new TcpClient();
        await clientSocket.ConnectAsync((IPEndPoint)listener.LocalEndpoint);
        using var serverSocket = await listener.AcceptTcpClientAsync();
        await using var server = new SslStream(serverSocket.GetStream());
        await using var client = new SslStream(clientSocket.GetStream());

        var serverSide = server.AuthenticateAsServerAsync(new SslServerAuthenticationOptions
        {
            ServerCertificate = TestCertificates.Server,
            ClientCertificateRequired = true,
            RemoteCertificateValidationCallback = (_, _, _, _) => true,
        });
        await client.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
        {
            TargetHost = "localhost",
            ClientCertificates = [TestCertificates.Client],
            RemoteCertificateValidationCallback = (_, _, _, _) => true,
        });
        await serverSide.WaitAsync(TimeSpan.FromSeconds(30));

        var atServer = TlsNegotiation.Describe(server, null);
        var atClient = TlsNegotiation.Describe(client, "localhost");

        // What the connected event carries is still there ...
        Assert.Equal(TestCertificates.Client.Subject, atServer.PeerCertificateSubject);
        Assert.Equal(TestCertificates.Client.Thumbprint, atServer.PeerCertificateThumbprint);
        Assert.Equal(TestCertificates.Server.Subject, atClient.PeerCertificateSubject);
        Assert.Equal(TestCertificates.Server.Thumbprint, atClient.PeerCertificateThumbprint);
        // ... and the certificates behind it are released now, not at some later garbage collection.
        Assert.Equal(IntPtr.Zero, server.RemoteCertificate!.Handle);
        Assert.Equal(IntPtr.Zero, client.RemoteCertificate!.Handle);
    }
}
