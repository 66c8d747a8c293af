using System.Security.Cryptography.X509Certificates;
using Ferry.Framing;
using Ferry.Stages;
using Ferry.Tests.Support;
using Ferry.Transport;

namespace Ferry.Tests.ApiReview;

/// <summary>
/// Under mutual TLS a server wants the client's certificate itself (its subject alternative names, issuer, extensions), not
/// only the subject and thumbprint <see cref="TlsConnectionInfo"/> carried; a client stage wants the server's. Both server
/// transports: SslStream on streams, OpenSSL driven by the service thread on epoll.
/// </summary>
/// <param name="serverTransport">The server stage's transport.</param>
public abstract class TlsRemoteCertificateTests(StageTransport serverTransport)
{
    public sealed class OnStream() : TlsRemoteCertificateTests(StageTransport.Stream);

    public sealed class OnEpoll() : TlsRemoteCertificateTests(StageTransport.Epoll);

    private TcpServerStageOptions Server(TlsOptions tls) => new()
    {
        Bind = "127.0.0.1:0",
        Framing = FramingSpec.Parse("lines"),
        Tls = tls,
        Transport = serverTransport,
    };

    [Fact]
    public async Task A_server_gives_the_client_certificate_of_a_mutual_tls_connection_to_events_and_handlers()
    {
        await using var h = new FerryTestServer(Server(TestCertificates.MutualTlsServer), recordPackets: false);
        var fromHandler = new TaskCompletionSource<TlsConnectionInfo?>(TaskCreationOptions.RunContinuationsAsynchronously);
        h.Stage.MapConnections(async (connection, ct) =>
        {
            fromHandler.TrySetResult(connection.Tls);
            await foreach (var _ in connection.ReadAsync(ct)) { }
        });
        await h.StartAsync();
        await using var client = await FramedTestClient.ConnectAsync(h.EndPoint, TestCertificates.TrustingClient(clientCertificate: TestCertificates.Client));
        var connected = await h.WaitForConnectionAsync(client.LocalEndPoint);

        // Before: no such member; only the subject and the thumbprint.
        using (var certificate = connected.Tls!.GetRemoteCertificate())
        {
            Assert.NotNull(certificate);
            Assert.Equal(TestCertificates.Client.RawData, certificate!.RawData);
            Assert.Equal(TestCertificates.Authority.Subject, certificate.Issuer);
            Assert.Equal(connected.Tls.PeerCertificateThumbprint, certificate.Thumbprint);
        }
        // Each call gives a new certificate of the caller's: the one disposed above took nothing from the next reader.
        using (var again = connected.Tls.GetRemoteCertificate())
            Assert.Equal(TestCertificates.Client.Thumbprint, again!.Thumbprint);
        var seen = await fromHandler.Task.WaitAsync(TimeSpan.FromSeconds(10));
        using (var inHandler = seen!.GetRemoteCertificate())
            Assert.Equal(TestCertificates.Client.RawData, inHandler!.RawData);
        // Two descriptions of the same outcome are still equal records: the kept bytes compare by content, not by reference.
        Assert.Equal(connected.Tls, seen with { RemoteCertificateDer = new TlsConnectionInfo.PeerCertificateBytes(TestCertificates.Client.RawData) });
    }

    [Fact]
    public async Task A_server_connection_without_a_client_certificate_has_none()
    {
        await using var h = new FerryTestServer(Server(new TlsOptions { Secure = true, Certificate = TestCertificates.ServerCertificate }));
        await h.StartAsync();
        await using var client = await FramedTestClient.ConnectAsync(h.EndPoint, TestCertificates.TrustingClient());
        var connected = await h.WaitForConnectionAsync(client.LocalEndPoint);

        Assert.Null(connected.Tls!.PeerCertificateSubject);
        Assert.Null(connected.Tls.GetRemoteCertificate());
    }

    [Fact]
    public async Task A_client_stage_gives_the_server_certificate()
    {
        await using var h = new FerryTestServer(Server(new TlsOptions { Secure = true, Certificate = TestCertificates.ServerCertificate }));
        await h.StartAsync();
        await using var stage = new TcpClientStage(new TcpClientStageOptions
        {
            Connect = $"127.0.0.1:{h.EndPoint.Port}",
            Tls = new TlsOptions { Secure = true, ServerName = "localhost", CaCertificatePem = TestCertificates.AuthorityPem },
        });
        var connected = new TaskCompletionSource<ConnectedEvent>(TaskCreationOptions.RunContinuationsAsynchronously);
        stage.Connected += (_, e) => connected.TrySetResult(e);
        await stage.ConnectAsync().WaitAsync(TimeSpan.FromSeconds(10));

        var tls = (await connected.Task.WaitAsync(TimeSpan.FromSeconds(10))).Tls!;
        using var certificate = tls.GetRemoteCertificate();
        Assert.Equal(TestCertificates.Server.RawData, certificate!.RawData);
        Assert.Contains("localhost", certificate.GetNameInfo(X509NameType.DnsName, forIssuer: false));
    }
}
