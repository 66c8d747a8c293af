using System.Security.Cryptography.X509Certificates;
using Ferry.Stages;
using Ferry.Transport.Tls;

namespace Ferry.Testing;

/// <summary>
/// A throwaway certificate authority for TLS tests, made in process (no openssl, nothing installed in a
/// trust store): it issues server and client certificates, turns them into stage options, and gives
/// test clients that trust it.
/// </summary>
/// <example>
/// <code>
/// using var ca = TestCertificateAuthority.Create();
/// var tls = new TlsOptions { Secure = true, Certificate = ca.IssueServerOption("localhost", "127.0.0.1") };
/// await using var server = await FerryTestServer.StartAsync(new TcpServerStageOptions { Tls = tls });
/// await using var client = await server.ConnectAsync(new FramedTestClientOptions { Tls = ca.TrustingClient() });
/// </code>
/// </example>
public sealed class TestCertificateAuthority : IDisposable
{
    private static readonly TimeSpan Validity = TimeSpan.FromDays(1);

    private TestCertificateAuthority(X509Certificate2 certificate) => Certificate = certificate;

    /// <summary>Makes a new authority, valid from five minutes ago for a day.</summary>
    /// <param name="name">Its common name.</param>
    public static TestCertificateAuthority Create(string name = "Ferry.Testing CA")
        => new(CertificateMaker.CreateAuthority(name, Validity));

    /// <summary>The authority's own certificate, with its private key.</summary>
    public X509Certificate2 Certificate { get; }

    /// <summary>The authority's certificate as PEM, e.g. for <see cref="TlsOptions.CaCertificatePem"/> (a server that checks client certificates).</summary>
    public string CertificatePem => Certificate.ExportCertificatePem();

    /// <summary>Issues a server certificate for <paramref name="names"/> (DNS names and IP addresses), valid from five minutes ago for a day.</summary>
    /// <param name="names">The names it is valid for; the first is also its common name.</param>
    public X509Certificate2 IssueServer(params string[] names)
    {
        var now = DateTimeOffset.UtcNow;
        return CertificateMaker.CreateServer(Certificate, names, now.AddMinutes(-5), now.Add(Validity));
    }

    /// <summary>Issues a server certificate for <paramref name="names"/> and returns it as a stage's certificate option.</summary>
    /// <param name="names">The names it is valid for.</param>
    public TlsCertificate IssueServerOption(params string[] names) => AsOption(IssueServer(names));

    /// <summary>Issues a client certificate (mutual TLS) with the common name <paramref name="subject"/>.</summary>
    /// <param name="subject">Its common name.</param>
    /// <param name="notBefore">Start of validity; five minutes ago when null.</param>
    /// <param name="notAfter">End of validity; a day from now when null (pass a past time for an expired certificate).</param>
    public X509Certificate2 IssueClient(string subject, DateTimeOffset? notBefore = null, DateTimeOffset? notAfter = null)
    {
        var now = DateTimeOffset.UtcNow;
        return CertificateMaker.CreateClient(Certificate, subject, notBefore ?? now.AddMinutes(-5), notAfter ?? now.Add(Validity));
    }

    /// <summary>TLS settings for a <see cref="FramedTestClient"/> that trusts this authority.</summary>
    /// <param name="serverName">The name asked for (SNI) and checked against the server's certificate.</param>
    /// <param name="clientCertificate">A certificate to present when the server asks for one; none when null.</param>
    public TestClientTls TrustingClient(string serverName = "localhost", X509Certificate2? clientCertificate = null)
        => new() { TrustedAuthority = Certificate, ServerName = serverName, ClientCertificate = clientCertificate };

    /// <summary>A certificate with its private key as a stage's certificate option (PEM text).</summary>
    /// <param name="certificate">A certificate with an ECDSA private key, such as those this authority issues.</param>
    public static TlsCertificate AsOption(X509Certificate2 certificate)
    {
        var (pem, key) = CertificateMaker.ToPem(certificate);
        return new TlsCertificate { CertificatePem = pem, PrivateKeyPem = key };
    }

    /// <summary>Releases the authority's key.</summary>
    public void Dispose() => Certificate.Dispose();
}
