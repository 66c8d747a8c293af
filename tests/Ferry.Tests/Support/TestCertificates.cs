using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using Ferry.Stages;
using Ferry.Transport.Tls;

namespace Ferry.Tests.Support;

/// <summary>Certificates made once per test run, in process: a CA, a server certificate (localhost, 127.0.0.1), client certificates (good, from another CA, expired).</summary>
public static class TestCertificates
{
    private static readonly Lazy<Set> Made = new(() =>
    {
        var now = DateTimeOffset.UtcNow;
        var ca = CertificateMaker.CreateAuthority("Ferry Test CA", TimeSpan.FromDays(30), now.AddDays(-10));
        var otherCa = CertificateMaker.CreateAuthority("Some Other CA", TimeSpan.FromDays(30), now.AddDays(-10));
        return new Set(
            ca,
            CertificateMaker.CreateServer(ca, ["localhost", "127.0.0.1"], now.AddMinutes(-5), now.AddDays(1)),
            CertificateMaker.CreateClient(ca, "terminal-7", now.AddMinutes(-5), now.AddDays(1)),
            CertificateMaker.CreateClient(otherCa, "stranger", now.AddMinutes(-5), now.AddDays(1)),
            CertificateMaker.CreateClient(ca, "old-terminal", now.AddDays(-2), now.AddDays(-1)));
    });

    public static X509Certificate2 Authority => Made.Value.Authority;

    public static X509Certificate2 Server => Made.Value.Server;

    public static X509Certificate2 Client => Made.Value.Client;

    public static X509Certificate2 ClientOfOtherAuthority => Made.Value.Stranger;

    public static X509Certificate2 ExpiredClient => Made.Value.Expired;

    public static string AuthorityPem => Authority.ExportCertificatePem();

    /// <summary>Test-client options for TLS that trusts this run's CA, asks for <paramref name="serverName"/> and may present a client certificate.</summary>
    public static FramedTestClientOptions TrustingClient(SslProtocols protocols = SslProtocols.Tls12 | SslProtocols.Tls13,
        X509Certificate2? clientCertificate = null, string serverName = "localhost")
        => new()
        {
            Tls = new TestClientTls
            {
                TrustedAuthority = Authority,
                ClientCertificate = clientCertificate,
                ServerName = serverName,
                Protocols = protocols,
            },
        };

    /// <summary>The server's certificate and key as stage options.</summary>
    public static TlsCertificate ServerCertificate => AsOption(Server);

    public static TlsCertificate AsOption(X509Certificate2 certificate) => TestCertificateAuthority.AsOption(certificate);

    /// <summary>A mutual-TLS server's options: this run's server certificate, and a client certificate required, issued by this run's CA.</summary>
    public static TlsOptions MutualTlsServer => new()
    {
        Secure = true,
        Certificate = ServerCertificate,
        CaCertificatePem = AuthorityPem,
        ClientCertificate = ClientCertificateMode.Required,
    };

    private sealed record Set(X509Certificate2 Authority, X509Certificate2 Server, X509Certificate2 Client, X509Certificate2 Stranger, X509Certificate2 Expired);
}
