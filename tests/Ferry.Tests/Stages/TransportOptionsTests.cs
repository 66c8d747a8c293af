using Ferry.Stages;
using Ferry.Transport;
using Ferry.Transport.Epoll;
using Ferry.Transport.Streams;
using Ferry.Tests.Support;

namespace Ferry.Tests.Stages;

/// <summary>The <c>transport</c> and <c>tls</c> options: defaults, choices and the errors they give.</summary>
public sealed class TransportOptionsTests
{
    [Fact]
    public async Task Auto_is_the_default_and_means_epoll_on_linux_also_for_a_tls_server_and_streams_for_a_tls_client()
    {
        Assert.Equal(StageTransport.Auto, new TcpServerStageOptions().Transport);
        Assert.Equal(StageTransport.Auto, new TcpClientStageOptions().Transport);
        await using var plain = new TcpServerStage(new TcpServerStageOptions { Bind = "127.0.0.1:0" });
        Assert.IsType<EpollTransport>(plain.Core.Transport);
        await using var stream = new TcpServerStage(new TcpServerStageOptions { Bind = "127.0.0.1:0", Transport = StageTransport.Stream });
        Assert.IsType<StreamTransport>(stream.Core.Transport);
        await using var tls = new TcpServerStage(new TcpServerStageOptions { Bind = "127.0.0.1:0", Tls = new TlsOptions { Secure = true, Certificate = TestCertificates.ServerCertificate } });
        Assert.IsType<EpollTransport>(tls.Core.Transport);
        await using var tlsClient = new TcpClientStage(new TcpClientStageOptions { Connect = "127.0.0.1:9", Tls = new TlsOptions { Secure = true } });
        Assert.IsType<StreamTransport>(tlsClient.Core.Transport);
    }

    [Fact]
    public void Bad_transport_and_tls_options_are_all_reported_by_name()
    {
        var server = Assert.Throws<StageOptionsException>(() => new TcpServerStage(new TcpServerStageOptions
        {
            Transport = (StageTransport)42,
            Tls = new TlsOptions { Secure = true, HandshakeTimeout = TimeSpan.Zero, CaCertificatePem = "x", CaCertificateFile = "y" },
        })).Problems;
        Assert.Contains(server, p => p.StartsWith("TcpServerStageOptions.Transport: 42 is not allowed"));
        Assert.Contains("TcpServerStageOptions.Tls.HandshakeTimeout: 0 is not allowed; must be positive, e.g. 10s", server); // was 00:00:00
        Assert.Contains(server, p => p.StartsWith("TcpServerStageOptions.Tls.Certificate: a TLS server needs a certificate"));
        Assert.Contains(server, p => p.StartsWith("TcpServerStageOptions.Tls.CaCertificatePem and TcpServerStageOptions.Tls.CaCertificateFile"));

        var client = Assert.Throws<StageOptionsException>(() => new TcpClientStage(new TcpClientStageOptions
        {
            Transport = StageTransport.Epoll,
            Tls = new TlsOptions { Secure = true, ClientCertificate = ClientCertificateMode.Required, Certificate = new TlsCertificate { CertificatePem = "x" } },
        })).Problems;
        Assert.Contains(client, p => p.StartsWith("TcpClientStageOptions.Transport: a client stage's TLS runs on the stream transport"));
        Assert.Contains(client, p => p.StartsWith("TcpClientStageOptions.Tls.ClientCertificate: applies to server stages"));
        Assert.Contains(client, p => p.StartsWith("TcpClientStageOptions.Tls.Certificate: give the private key"));
    }

    [Fact]
    public void Tls_off_ignores_the_rest_and_epoll_stays_allowed()
    {
        var options = new TcpServerStageOptions { Transport = StageTransport.Epoll, Tls = new TlsOptions { Secure = false } };
        options.Validate();
    }

    [Fact]
    public void A_certificate_file_that_cannot_be_read_fails_at_construction_naming_the_option()
    {
        var missing = Path.Combine(Path.GetTempPath(), "ferry-no-such-cert.pem");
        var ex = Assert.Throws<StageOptionsException>(() => new TcpServerStage(new TcpServerStageOptions
        {
            Bind = "127.0.0.1:0",
            Tls = new TlsOptions { Secure = true, Certificate = new TlsCertificate { CertificateFile = missing, PrivateKeyFile = missing } },
        }));
        Assert.Contains("TcpServerStageOptions.Tls.Certificate.CertificateFile: cannot read", ex.Message);
        Assert.Contains(missing, ex.Message);
    }

    [Fact]
    public async Task Certificates_from_pem_files_work_like_pem_text()
    {
        var dir = Directory.CreateTempSubdirectory("ferry-tls-");
        try
        {
            var (cert, key) = Ferry.Transport.Tls.CertificateMaker.ToPem(TestCertificates.Server);
            await File.WriteAllTextAsync(Path.Combine(dir.FullName, "server.pem"), cert);
            await File.WriteAllTextAsync(Path.Combine(dir.FullName, "server.key"), key);
            await using var h = new FerryTestServer(new TcpServerStageOptions
            {
                Tls = new TlsOptions
                {
                    Secure = true,
                    Certificate = new TlsCertificate { CertificateFile = Path.Combine(dir.FullName, "server.pem"), PrivateKeyFile = Path.Combine(dir.FullName, "server.key") },
                },
            });
            await h.StartAsync();
            await using var client = await FramedTestClient.ConnectAsync(h.EndPoint, TestCertificates.TrustingClient());
            var connected = await h.WaitForConnectionAsync(client.LocalEndPoint);
            Assert.NotNull(connected.Tls);
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }
}
