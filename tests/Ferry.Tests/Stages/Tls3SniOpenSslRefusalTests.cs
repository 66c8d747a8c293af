using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Ferry.Stages;
using Ferry.Tests.Support;
using Ferry.Transport;

namespace Ferry.Tests.Stages;

/// <summary>
/// An SNI certificate that .NET loads but OpenSSL refuses (a 512-bit RSA key, below every OpenSSL security level) is told
/// on epoll at its server name, <c>TcpServerStageOptions.Tls.SniCertificates["api.example.com"]</c>, when the stage is
/// built. It was told as <c>option 'tls.certificate'</c> (the default certificate, which was fine), and only at the first
/// handshake asking for that name, where the SNI callback swallowed it into a failed handshake.
/// </summary>
public sealed class Tls3SniOpenSslRefusalTests
{
    /// <summary>A server certificate for <paramref name="name"/> on a 512-bit RSA key, self-signed (the chain does not matter here).</summary>
    private static TlsCertificate WeakRsa(string name)
    {
        using var rsa = RSA.Create(512);
        var request = new CertificateRequest("CN=" + name, rsa, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        var san = new SubjectAlternativeNameBuilder();
        san.AddDnsName(name);
        request.CertificateExtensions.Add(san.Build());
        var now = DateTimeOffset.UtcNow;
        using var certificate = request.CreateSelfSigned(now.AddMinutes(-5), now.AddDays(1));
        return new TlsCertificate { CertificatePem = certificate.ExportCertificatePem(), PrivateKeyPem = rsa.ExportPkcs8PrivateKeyPem() };
    }

    private static StageOptionsException Build(TlsCertificate main, TlsCertificate? sni) => Assert.Throws<StageOptionsException>(() => new TcpServerStage(new TcpServerStageOptions
    {
        Name = "pos",
        Bind = "127.0.0.1:0",
        Transport = StageTransport.Epoll,
        Tls = new TlsOptions
        {
            Secure = true,
            Certificate = main,
            SniCertificates = sni is null ? null : new Dictionary<string, TlsCertificate> { ["api.example.com"] = sni },
        },
    }, new Ferry.Bus.InProcessBus()));

    [Fact]
    public void An_sni_certificate_openssl_refuses_is_told_at_its_server_name_when_the_stage_is_built()
    {
        var problem = Assert.Single(Build(TestCertificates.ServerCertificate, WeakRsa("api.example.com")).Problems);
        Assert.StartsWith("TcpServerStageOptions.Tls.SniCertificates[\"api.example.com\"]: OpenSSL refused the certificate: ", problem, StringComparison.Ordinal);
    }

    [Fact]
    public void The_default_certificate_openssl_refuses_is_still_told_at_tls_certificate()
    {
        var problem = Assert.Single(Build(WeakRsa("localhost"), null).Problems);
        Assert.StartsWith("TcpServerStageOptions.Tls.Certificate: OpenSSL refused the certificate: ", problem, StringComparison.Ordinal);
    }
}
