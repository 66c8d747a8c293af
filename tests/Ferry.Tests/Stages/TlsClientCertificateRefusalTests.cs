using System.Security.Cryptography.X509Certificates;
using Ferry.Connections;
using Ferry.Framing;
using Ferry.Stages;
using Ferry.Tests.Support;
using Ferry.Transport;
using Ferry.Transport.Tls;

namespace Ferry.Tests.Stages;

/// <summary>
/// Mutual TLS refusals as the refused client sees them (<c>openssl s_client</c>) and as the stage reports them: the stage
/// says why (detail, counted), and on epoll the client is told why too, by the TLS alert the refusal maps to.
/// </summary>
/// <remarks>
/// On streams SslStream sends no alert for a certificate its validation callback refuses: the client sees the connection
/// end (under TLS 1.3 after its handshake finished). That is the runtime's and stays as it is; the stage's side is the same.
/// </remarks>
/// <param name="serverTransport">The server stage's transport: SslStream on streams, OpenSSL on epoll.</param>
public abstract class TlsClientCertificateRefusalTests(StageTransport serverTransport) : IDisposable
{
    public sealed class OnStream() : TlsClientCertificateRefusalTests(StageTransport.Stream);

    public sealed class OnEpoll() : TlsClientCertificateRefusalTests(StageTransport.Epoll);

    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("ferry-refusal-");

    public void Dispose() => _dir.Delete(recursive: true);

    private string P(string name) => Path.Combine(_dir.FullName, name);

    [OpenSslTheory]
    [InlineData("-tls1_3", "revoked", "revoked", "alert certificate revoked")]
    [InlineData("-tls1_2", "revoked", "revoked", "alert certificate revoked")]
    [InlineData("-tls1_3", "expired", "expired", "alert certificate expired")]
    [InlineData("-tls1_2", "expired", "expired", "alert certificate expired")]
    [InlineData("-tls1_3", "stranger", "untrusted", "alert unknown ca")]
    [InlineData("-tls1_2", "stranger", "untrusted", "alert unknown ca")]
    [InlineData("-tls1_3", "none", "no client certificate", "alert certificate required")]
    [InlineData("-tls1_2", "none", "no client certificate", "alert handshake failure")]
    public async Task A_refused_client_certificate_is_reported_counted_and_on_epoll_told_to_the_client_by_its_alert(
        string version, string client, string detail, string alert)
    {
        var now = DateTimeOffset.UtcNow;
        using var lost = CertificateMaker.CreateClient(TestCertificates.Authority, "lost-terminal", now.AddMinutes(-5), now.AddDays(1));
        var certificate = client switch
        {
            "revoked" => lost,
            "expired" => TestCertificates.ExpiredClient,
            "stranger" => TestCertificates.ClientOfOtherAuthority,
            _ => null,
        };
        List<string> args = ["s_client", "-connect", "", "-servername", "localhost", version];
        if (certificate is not null)
        {
            var (certificatePem, keyPem) = CertificateMaker.ToPem(certificate);
            await File.WriteAllTextAsync(P("client.pem"), certificatePem);
            await File.WriteAllTextAsync(P("client.key"), keyPem);
            args.AddRange(["-cert", P("client.pem"), "-key", P("client.key")]);
        }
        await using var h = new FerryTestServer(new TcpServerStageOptions
        {
            Bind = "127.0.0.1:0",
            Transport = serverTransport,
            Framing = FramingSpec.Parse("lines"),
            Tls = TestCertificates.MutualTlsServer with
            {
                CertificateRevocationListPem = CertificateMaker.CreateRevocationList(TestCertificates.Authority, [lost], null, now.AddDays(1)),
            },
        });
        await h.StartAsync();
        args[2] = h.EndPoint.ToString();
        using var sclient = SClientProcess.Start(OpenSslClientTests.OpenSsl!, args);
        var process = sclient.Process;
        try
        {
            await process.StandardInput.WriteLineAsync("hello");
            await process.StandardInput.FlushAsync();
            var closed = await h.WaitForEventAsync<DisconnectedEvent>();
            Assert.Equal(DisconnectReason.TlsError, closed.Reason);
            Assert.StartsWith(detail, closed.Detail);
            Assert.Empty(h.Events.OfType<ConnectedEvent>());
            Assert.Equal(1, h.Stage.GetStats().TlsFailuresTotal);

            // s_client ends when the connection does (it reads the alert or the end first).
            using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            await process.WaitForExitAsync(deadline.Token);
            if (serverTransport == StageTransport.Epoll)
                Assert.Contains(alert, sclient.Output);
        }
        finally
        {
            process.StandardInput.Close();
            if (!process.WaitForExit(5000))
                process.Kill();
        }
    }
}
