using Ferry.Stages;
using Ferry.Tests.Support;
using Ferry.Transport;

namespace Ferry.Tests.Stages;

/// <summary>
/// A file of an SNI certificate that cannot be loaded is told at that certificate's key, the server name as written
/// (<c>TcpServerStageOptions.Tls.SniCertificates["api.example.com"].CertificateFile</c>): it was told at the default
/// certificate's (<c>Tls.Certificate.CertificateFile</c>), which the developer set right, on both TLS engines.
/// </summary>
/// <param name="transport">The server stage's transport: SslStream on streams, OpenSSL on epoll.</param>
public abstract class Tls2SniCertificateFileTests(StageTransport transport)
{
    public sealed class OnStream() : Tls2SniCertificateFileTests(StageTransport.Stream);

    public sealed class OnEpoll() : Tls2SniCertificateFileTests(StageTransport.Epoll);

    private const string Missing = "/nonexistent-ferry-tls2/api.pem";

    private StageOptionsException Build(TlsCertificate sni) => Assert.Throws<StageOptionsException>(() => new TcpServerStage(new TcpServerStageOptions
    {
        Name = "pos",
        Bind = "127.0.0.1:0",
        Transport = transport,
        Tls = new TlsOptions
        {
            Secure = true,
            Certificate = TestCertificates.ServerCertificate,
            SniCertificates = new Dictionary<string, TlsCertificate> { ["api.example.com"] = sni },
        },
    }, new Ferry.Bus.InProcessBus()));

    [Fact]
    public void An_sni_certificate_file_that_cannot_be_read_is_told_at_its_server_name()
    {
        var problem = Assert.Single(Build(new TlsCertificate { CertificateFile = Missing, PrivateKeyFile = "/nonexistent-ferry-tls2/api.key" }).Problems);
        Assert.StartsWith($"TcpServerStageOptions.Tls.SniCertificates[\"api.example.com\"].CertificateFile: cannot read '{Missing}'", problem, StringComparison.Ordinal);
    }

    [Fact]
    public void An_sni_private_key_file_that_cannot_be_read_is_told_at_its_server_name()
    {
        var problem = Assert.Single(Build(new TlsCertificate { CertificatePem = TestCertificates.ServerCertificate.CertificatePem, PrivateKeyFile = "/nonexistent-ferry-tls2/api.key" }).Problems);
        Assert.StartsWith("TcpServerStageOptions.Tls.SniCertificates[\"api.example.com\"].PrivateKeyFile: cannot read '/nonexistent-ferry-tls2/api.key'", problem, StringComparison.Ordinal);
    }

    [Fact]
    public void An_sni_pkcs12_file_that_cannot_be_loaded_is_told_at_its_server_name()
    {
        // Before: "cannot load '…': Error occurred during a cryptographic operation." for a file that is not there.
        var problem = Assert.Single(Build(new TlsCertificate { Pkcs12File = "/nonexistent-ferry-tls2/api.p12" }).Problems);
        Assert.Equal("TcpServerStageOptions.Tls.SniCertificates[\"api.example.com\"].Pkcs12File: cannot read '/nonexistent-ferry-tls2/api.p12': no such directory '/nonexistent-ferry-tls2'", problem);
        var notPkcs12 = Path.GetTempFileName();
        try
        {
            File.WriteAllText(notPkcs12, "not PKCS#12");
            problem = Assert.Single(Build(new TlsCertificate { Pkcs12File = notPkcs12 }).Problems);
            Assert.StartsWith($"TcpServerStageOptions.Tls.SniCertificates[\"api.example.com\"].Pkcs12File: cannot load '{notPkcs12}' as PKCS#12 (a wrong password, or not a PKCS#12 file): ", problem, StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(notPkcs12);
        }
    }

    [Fact]
    public void An_sni_key_that_does_not_match_is_told_at_its_server_name()
    {
        var other = TestCertificates.AsOption(TestCertificates.Client);
        var problem = Assert.Single(Build(new TlsCertificate { CertificatePem = TestCertificates.ServerCertificate.CertificatePem, PrivateKeyPem = other.PrivateKeyPem }).Problems);
        Assert.StartsWith("TcpServerStageOptions.Tls.SniCertificates[\"api.example.com\"]: the private key does not match the certificate", problem, StringComparison.Ordinal);
    }
}
