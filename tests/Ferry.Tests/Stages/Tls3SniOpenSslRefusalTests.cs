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

    [Fact]
    public async Task A_reloaded_certificate_openssl_refuses_keeps_the_one_in_service_and_says_so()
    {
        // Before the fix the refusal escaped the reload inside a handshake (TlsSocketIo.CreateSession catches only
        // InvalidOperationException): the handshake's caller, the service loop, got a TlsMaterialException.
        using var dir = new TempDirectory();
        var certificateFile = Path.Combine(dir.Path, "server.pem");
        var keyFile = Path.Combine(dir.Path, "server.key");
        await File.WriteAllTextAsync(certificateFile, TestCertificates.ServerCertificate.CertificatePem);
        await File.WriteAllTextAsync(keyFile, TestCertificates.ServerCertificate.PrivateKeyPem);
        var time = new Microsoft.Extensions.Time.Testing.FakeTimeProvider(DateTimeOffset.UtcNow);
        var logs = new Ferry.Tests.Bridge.CapturingLoggerFactory(Microsoft.Extensions.Logging.LogLevel.Information, timestamps: false);
        await using var stage = new TcpServerStage(new TcpServerStageOptions
        {
            Bind = "127.0.0.1:0",
            Transport = StageTransport.Epoll,
            Framing = Ferry.Framing.FramingSpec.Parse("lines"),
            Tls = new TlsOptions { Secure = true, Certificate = new TlsCertificate { CertificateFile = certificateFile, PrivateKeyFile = keyFile } },
        }, loggerFactory: logs, timeProvider: time);
        var endPoint = await stage.StartAsync();

        var weak = WeakRsa("localhost");
        await File.WriteAllTextAsync(keyFile, weak.PrivateKeyPem);
        await File.WriteAllTextAsync(certificateFile, weak.CertificatePem);
        time.Advance(TimeSpan.FromSeconds(2));
        await using (var client = await Ferry.Testing.FramedTestClient.ConnectAsync(endPoint, TestCertificates.TrustingClient()))
        {
            using var served = X509CertificateLoader.LoadCertificate(client.Tls!.RemoteCertificate!.GetRawCertData());
            Assert.Equal(TestCertificates.Server.Thumbprint, served.Thumbprint);
            await client.SendAsync("still served\n");
            await Ferry.Testing.Poll.UntilAsync(() => stage.GetStats().PacketsReceivedTotal == 1, "the line");
        }
        var kept = Assert.Single(logs.All, l => l.Contains("cannot be used", StringComparison.Ordinal));
        Assert.Contains("OpenSSL refused", kept);
        Assert.Contains(TestCertificates.Server.Thumbprint, kept);
    }

    private sealed class TempDirectory : IDisposable
    {
        private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("ferry-tls3-sni-");

        public string Path => _dir.FullName;

        public void Dispose() => _dir.Delete(recursive: true);
    }
}
