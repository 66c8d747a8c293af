using Ferry.Stages;
using Ferry.Tests.Support;
using Ferry.Transport;

namespace Ferry.Tests.Stages;

public sealed class OptionsTests
{
    [Theory]
    [InlineData("127.0.0.1:9000", "127.0.0.1", 9000)]
    [InlineData(":3034", "", 3034)]
    [InlineData("[::1]:0", "::1", 0)]
    [InlineData("localhost:80", "localhost", 80)]
    public void Bind_addresses_parse(string text, string host, int port)
    {
        var address = BindAddress.Parse(text);
        Assert.Equal(host, address.Host);
        Assert.Equal(port, address.Port);
    }

    [Theory]
    [InlineData("9000", "no port")]
    [InlineData("127.0.0.1:99999", "port '99999'")]
    [InlineData("::1:80", "brackets")]
    [InlineData("[zz]:80", "not an IPv6 address")]
    [InlineData("", "empty")]
    public void Bad_bind_addresses_say_what_is_wrong(string text, string expected)
    {
        var ex = Assert.Throws<ArgumentException>(() => BindAddress.Parse(text));
        Assert.Contains(expected, ex.Message);
        Assert.Contains("option 'bind'", ex.Message);
    }

    /// <summary>
    /// A null where a reference option must be set (a caller without nullable annotations, a helper that returns null for
    /// "any"). Before, each passed Validate: a null affinity then ended the whole process on the service thread, and a null
    /// socket made the start fail with "stopped before it listened", the cause only in the log.
    /// </summary>
    [Fact]
    public void Null_reference_options_are_option_problems_on_both_stages()
    {
        var server = Assert.Throws<StageOptionsException>(() => new TcpServerStageOptions
        {
            Name = null!, Bind = null!, Socket = null!, Framing = null!, ThreadProcessorAffinity = null!,
        }.Validate());
        var client = Assert.Throws<StageOptionsException>(() => new TcpClientStageOptions
        {
            Name = null!, Connect = null!, Socket = null!, Framing = null!, ThreadProcessorAffinity = null!,
        }.Validate());
        foreach (var (ex, type) in new[] { (server, nameof(TcpServerStageOptions)), (client, nameof(TcpClientStageOptions)) })
        {
            Assert.Contains($"{type}.Socket: null is not allowed; use new TcpSocketOptions() for the system's defaults", ex.Problems);
            Assert.Contains($"{type}.ThreadProcessorAffinity: null is not allowed; use an empty list for any CPU, or the CPUs to run on", ex.Problems);
            Assert.Contains($"{type}.Framing: must be set", ex.Problems);
            Assert.Contains(ex.Problems, p => p.StartsWith($"{type}.Name: null is not allowed; a stage name is 1 to 128 characters", StringComparison.Ordinal));
            Assert.Equal(5, ex.Problems.Count);
        }
        Assert.Contains(server.Problems, p => p.StartsWith("TcpServerStageOptions.Bind: '' is not a valid address (empty)", StringComparison.Ordinal));
        Assert.Contains(client.Problems, p => p.StartsWith("TcpClientStageOptions.Connect: '' is not a remote address (empty)", StringComparison.Ordinal));
    }

    [Fact]
    public void Every_invalid_option_is_reported_at_once_and_nothing_starts()
    {
        var options = new TcpServerStageOptions
        {
            Bind = "nowhere",
            MaxConnections = -1,
            GroupSize = 0,
            IdleTimeout = TimeSpan.FromSeconds(-1),
            EgressBufferBytes = 0,
            ThreadProcessorAffinity = [Environment.ProcessorCount + 3],
        };
        var ex = Assert.Throws<StageOptionsException>(() => new TcpServerStage(options));
        Assert.Contains(ex.Problems, p => p.StartsWith("TcpServerStageOptions.Bind"));
        Assert.Contains(ex.Problems, p => p.StartsWith("TcpServerStageOptions.MaxConnections: -1"));
        Assert.Contains(ex.Problems, p => p.StartsWith("TcpServerStageOptions.GroupSize: 0"));
        Assert.Contains(ex.Problems, p => p.StartsWith("TcpServerStageOptions.IdleTimeout"));
        Assert.Contains(ex.Problems, p => p.StartsWith("TcpServerStageOptions.EgressBufferBytes"));
        Assert.Contains(ex.Problems, p => p.StartsWith("TcpServerStageOptions.ThreadProcessorAffinity"));
        Assert.Equal(6, ex.Problems.Count);
    }

    [Fact]
    public void Tls_settings_without_secure_are_refused_rather_than_served_as_plain_tcp()
    {
        // A whole mutual-TLS configuration that only forgot Secure = true used to be accepted and served in the clear.
        var tls = new TlsOptions
        {
            Certificate = TestCertificates.ServerCertificate,
            CaCertificatePem = TestCertificates.AuthorityPem,
            ClientCertificate = ClientCertificateMode.Required,
        };
        var server = Assert.Throws<StageOptionsException>(() => new TcpServerStage(new TcpServerStageOptions { Bind = "127.0.0.1:0", Tls = tls }));
        Assert.Equal(
            "TcpServerStageOptions.Tls.Secure: false, but tls sets Certificate, CaCertificatePem, ClientCertificate; set Secure = true to serve TLS, "
            + "or leave those options unset (with Secure false the stage serves plain TCP)",
            Assert.Single(server.Problems));
        Assert.IsAssignableFrom<ArgumentException>(server);

        var client = Assert.Throws<StageOptionsException>(() => new TcpClientStageOptions
        {
            Connect = "127.0.0.1:1",
            Tls = new TlsOptions { Secure = false, ServerName = "gw.example", AcceptInvalidCertificates = true },
        }.Validate());
        Assert.StartsWith("TcpClientStageOptions.Tls.Secure: false, but tls sets ServerName, AcceptInvalidCertificates; set Secure = true", Assert.Single(client.Problems));

        // Secure false alone (seed 004's switch) is plain TCP, as before.
        new TcpServerStageOptions { Tls = new TlsOptions { Secure = false } }.Validate();
    }

    [Fact]
    public void An_options_error_names_the_stage_in_its_message_and_keeps_the_problems_as_they_were()
    {
        // With several stages in one process, "option 'bind': …" alone did not say whose option it was.
        var server = Assert.Throws<StageOptionsException>(() => new TcpServerStage(new TcpServerStageOptions { Name = "pos", Bind = "nowhere", Backlog = 0 }));
        Assert.StartsWith("stage 'pos': TcpServerStageOptions.Bind: 'nowhere' is not a valid address", server.Message);
        Assert.Contains("; TcpServerStageOptions.Backlog: 0 is not allowed", server.Message);
        Assert.All(server.Problems, p => Assert.StartsWith("TcpServerStageOptions.", p));   // the problems themselves stay per option

        var client = Assert.Throws<StageOptionsException>(() => new TcpClientStageOptions { Name = "upstream", Connect = "127.0.0.1:1", ConnectTimeout = TimeSpan.Zero }.Validate());
        Assert.StartsWith("stage 'upstream': TcpClientStageOptions.ConnectTimeout", client.Message);

        // What only the constructor finds (TLS material it reads) names the stage too.
        var missing = Path.Combine(Path.GetTempPath(), "ferry-no-such-cert.pem");
        var tls = Assert.Throws<StageOptionsException>(() => new TcpServerStage(new TcpServerStageOptions
        {
            Name = "pos",
            Bind = "127.0.0.1:0",
            Tls = new TlsOptions { Secure = true, Certificate = new TlsCertificate { CertificateFile = missing, PrivateKeyFile = missing } },
        }));
        // ... by the property the caller set, as the options' own checks do (it said "option 'tls.certificate.certificate_file'").
        Assert.StartsWith($"stage 'pos': TcpServerStageOptions.Tls.Certificate.CertificateFile: cannot read '{missing}'", tls.Message);
        Assert.StartsWith($"TcpServerStageOptions.Tls.Certificate.CertificateFile: cannot read '{missing}'", Assert.Single(tls.Problems));
        var clientTls = Assert.Throws<StageOptionsException>(() => new TcpClientStage(new TcpClientStageOptions
        {
            Name = "upstream",
            Connect = "127.0.0.1:1",
            Tls = new TlsOptions { Secure = true, CaCertificateFile = missing },
        }));
        Assert.StartsWith($"stage 'upstream': TcpClientStageOptions.Tls.CaCertificateFile: cannot read '{missing}'", clientTls.Message);

        // A name that is itself the problem is not quoted as the stage.
        Assert.StartsWith("TcpServerStageOptions.Name: '' is not allowed", Assert.Throws<StageOptionsException>(() => new TcpServerStageOptions { Name = "" }.Validate()).Message);
    }

    [Fact]
    public void New_options_are_checked_too()
    {
        var server = Assert.Throws<StageOptionsException>(() => new TcpServerStage(new TcpServerStageOptions { BindAttempts = -1 }));
        Assert.Contains(server.Problems, p => p.StartsWith("TcpServerStageOptions.BindAttempts: -1"));
        var client = Assert.Throws<StageOptionsException>(() => new TcpClientStage(new TcpClientStageOptions
        {
            EgressOverflow = (EgressOverflowPolicy)9,
            EgressWaitTimeout = TimeSpan.Zero,
        }));
        Assert.Contains(client.Problems, p => p.StartsWith("TcpClientStageOptions.EgressOverflow"));
        Assert.Contains(client.Problems, p => p.StartsWith("TcpClientStageOptions.EgressWaitTimeout"));
    }

    [Fact]
    public void Defaults_follow_the_seeds()
    {
        var o = new TcpServerStageOptions();
        Assert.Equal(512, o.Backlog);
        Assert.Equal(128, o.MaxConnections);
        Assert.True(o.Socket.NoDelay);
        Assert.Equal(1, o.GroupSize);
        Assert.Equal(TimeSpan.FromMilliseconds(1), o.GroupLinger);
        Assert.Equal(1024 * 1024, o.EgressBufferBytes);
        Assert.Equal(TimeSpan.Zero, o.IdleTimeout);
    }
}
