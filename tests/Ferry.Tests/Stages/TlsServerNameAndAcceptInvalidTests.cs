using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using Ferry.Connections;
using Ferry.Framing;
using Ferry.Stages;
using Ferry.Tests.Bridge;
using Ferry.Tests.Support;
using Ferry.Transport;
using Ferry.Transport.Tls;
using Microsoft.Extensions.Logging;

namespace Ferry.Tests.Stages;

/// <summary>
/// Seed 004's <c>server_name</c> and <c>accept_invalid_certificates</c> on a server stage, on both server transports: they
/// were ignored there (a setting given and silently dropped). <c>accept_invalid_certificates</c> accepts client certificates
/// that fail their checks (not a missing required one, not a revoked one); <c>server_name</c> must be a name of the stage's
/// certificate and holds clients' SNI to it (and to the SNI certificates' names).
/// </summary>
/// <param name="serverTransport">The server stage's transport: SslStream on streams, OpenSSL on epoll.</param>
public abstract class TlsServerNameAndAcceptInvalidTests(StageTransport serverTransport)
{
    public sealed class OnStream() : TlsServerNameAndAcceptInvalidTests(StageTransport.Stream);

    public sealed class OnEpoll() : TlsServerNameAndAcceptInvalidTests(StageTransport.Epoll);

    private static readonly DateTimeOffset Now = DateTimeOffset.UtcNow;

    /// <summary>A client certificate that signs itself: chains to no CA at all.</summary>
    private static readonly Lazy<X509Certificate2> SelfSigned = new(() => CertificateMaker.CreateClient(null, "self-made", Now.AddMinutes(-5), Now.AddDays(1)));

    private TcpServerStageOptions Server(TlsOptions tls) => new()
    {
        Name = "front",
        Bind = "127.0.0.1:0",
        Framing = FramingSpec.Parse("lines"),
        Tls = tls,
        Transport = serverTransport,
    };

    private static TlsOptions Mutual(ClientCertificateMode mode, bool acceptInvalid) => TestCertificates.MutualTlsServer with
    {
        ClientCertificate = mode,
        AcceptInvalidCertificates = acceptInvalid,
    };

    public enum Bad { SelfSigned, OtherAuthority, Expired }

    private static X509Certificate2 Certificate(Bad bad) => bad switch
    {
        Bad.SelfSigned => SelfSigned.Value,
        Bad.OtherAuthority => TestCertificates.ClientOfOtherAuthority,
        _ => TestCertificates.ExpiredClient,
    };

    /// <summary>Connects with <paramref name="options"/>; the handshake may fail at the client, or after it (TLS 1.3): either way the stage says.</summary>
    private static async Task<DisconnectedEvent> RefusedAsync(FerryTestServer h, FramedTestClientOptions options)
    {
        try
        {
            await using var client = await FramedTestClient.ConnectAsync(h.EndPoint, options);
            await client.SendAsync("hello\n"u8.ToArray());
            Assert.True(await client.WaitClosedAsync());
        }
        catch (Exception ex) when (ex is AuthenticationException or IOException)
        {
        }
        var closed = await h.WaitForEventAsync<DisconnectedEvent>();
        Assert.Equal(DisconnectReason.TlsError, closed.Reason);
        Assert.Empty(h.Events.OfType<ConnectedEvent>());
        Assert.Equal(1, h.Stage.GetStats().TlsFailuresTotal);
        return closed;
    }

    [Theory]
    [InlineData(ClientCertificateMode.Required, Bad.SelfSigned)]
    [InlineData(ClientCertificateMode.Optional, Bad.SelfSigned)]
    [InlineData(ClientCertificateMode.Required, Bad.OtherAuthority)]
    [InlineData(ClientCertificateMode.Required, Bad.Expired)]
    public async Task Accept_invalid_certificates_takes_a_client_certificate_that_fails_its_checks_and_shows_it(ClientCertificateMode mode, Bad bad)
    {
        var certificate = Certificate(bad);
        await using var h = new FerryTestServer(Server(Mutual(mode, acceptInvalid: true)));
        await h.StartAsync();
        await using var client = await FramedTestClient.ConnectAsync(h.EndPoint, TestCertificates.TrustingClient(clientCertificate: certificate));
        var connected = await h.WaitForConnectionAsync(client.LocalEndPoint);
        Assert.Equal(certificate.Subject, connected.Tls!.PeerCertificateSubject);
        Assert.Equal(certificate.Thumbprint, connected.Tls.PeerCertificateThumbprint);
        await client.SendAsync("ping\n"u8.ToArray());
        await h.WaitForPacketsAsync(p => p.Count == 1, "a line from the client with the invalid certificate");
        Assert.Equal(0, h.Stage.GetStats().TlsFailuresTotal);
    }

    [Theory]
    [InlineData(Bad.SelfSigned, "untrusted")]
    [InlineData(Bad.Expired, "expired")]
    public async Task Without_accept_invalid_certificates_the_same_certificate_is_refused(Bad bad, string reason)
    {
        await using var h = new FerryTestServer(Server(Mutual(ClientCertificateMode.Required, acceptInvalid: false)));
        await h.StartAsync();
        var closed = await RefusedAsync(h, TestCertificates.TrustingClient(clientCertificate: Certificate(bad)));
        Assert.StartsWith(reason, closed.Detail);
    }

    [Fact]
    public async Task Accept_invalid_certificates_still_needs_a_required_certificate_to_be_sent()
    {
        await using var h = new FerryTestServer(Server(Mutual(ClientCertificateMode.Required, acceptInvalid: true)));
        await h.StartAsync();
        var closed = await RefusedAsync(h, TestCertificates.TrustingClient());
        Assert.Equal("no client certificate", closed.Detail);
    }

    [Fact]
    public async Task Accept_invalid_certificates_with_an_optional_certificate_accepts_a_client_without_one()
    {
        await using var h = new FerryTestServer(Server(Mutual(ClientCertificateMode.Optional, acceptInvalid: true)));
        await h.StartAsync();
        await using var client = await FramedTestClient.ConnectAsync(h.EndPoint, TestCertificates.TrustingClient());
        var connected = await h.WaitForConnectionAsync(client.LocalEndPoint);
        Assert.Null(connected.Tls!.PeerCertificateSubject);
    }

    [Fact]
    public async Task Accept_invalid_certificates_still_refuses_a_certificate_the_crl_lists()
    {
        using var lost = CertificateMaker.CreateClient(TestCertificates.Authority, "lost-terminal", Now.AddMinutes(-5), Now.AddDays(1));
        await using var h = new FerryTestServer(Server(Mutual(ClientCertificateMode.Required, acceptInvalid: true) with
        {
            CertificateRevocationListPem = CertificateMaker.CreateRevocationList(TestCertificates.Authority, [lost], null, Now.AddDays(1)),
        }));
        await h.StartAsync();
        var closed = await RefusedAsync(h, TestCertificates.TrustingClient(clientCertificate: lost));
        Assert.Equal("revoked", closed.Detail);
    }

    [Fact]
    public async Task Accept_invalid_certificates_on_a_server_is_a_warning_at_start()
    {
        var logs = new CapturingLoggerFactory(LogLevel.Information, timestamps: false);
        await using var stage = new TcpServerStage(Server(Mutual(ClientCertificateMode.Optional, acceptInvalid: true)), loggerFactory: logs);
        Assert.Contains("Warning Ferry.Stages.TcpServer.front: front: tls.accept_invalid_certificates is on: any client certificate is accepted "
            + "(a required one must still be sent, one the CRL lists is still refused); for development only", logs.All);
    }

    [Fact]
    public void Accept_invalid_certificates_without_client_certificates_asked_for_is_an_options_error()
    {
        var problems = Assert.Throws<StageOptionsException>(() => new TcpServerStage(Server(new TlsOptions
        {
            Secure = true,
            Certificate = TestCertificates.ServerCertificate,
            AcceptInvalidCertificates = true,
        }))).Problems;
        Assert.Equal(["TcpServerStageOptions.Tls.AcceptInvalidCertificates: true, but this server asks for no client certificate, so there is none to accept "
            + "(on a server it accepts client certificates that fail their checks, for development only); set Tls.ClientCertificate "
            + "to optional or required, or leave it false"], problems);
    }

    private static TlsOptions Named(string serverName) => new()
    {
        Secure = true,
        Certificate = TestCertificates.ServerCertificate,
        ServerName = serverName,
    };

    [Fact]
    public async Task A_client_asking_for_the_server_name_is_served()
    {
        await using var h = new FerryTestServer(Server(Named("localhost")));
        await h.StartAsync();
        await using var client = await FramedTestClient.ConnectAsync(h.EndPoint, TestCertificates.TrustingClient(serverName: "LOCALHOST"));
        var connected = await h.WaitForConnectionAsync(client.LocalEndPoint);
        Assert.Equal("LOCALHOST", connected.Tls!.ServerName, ignoreCase: true);
    }

    [Fact]
    public async Task A_client_that_sends_no_sni_is_served()
    {
        await using var h = new FerryTestServer(Server(Named("localhost")));
        await h.StartAsync();
        // A client dialling an IP address sends no SNI; the certificate carries 127.0.0.1 too.
        await using var client = await FramedTestClient.ConnectAsync(h.EndPoint, TestCertificates.TrustingClient(serverName: "127.0.0.1"));
        var connected = await h.WaitForConnectionAsync(client.LocalEndPoint);
        Assert.Null(connected.Tls!.ServerName);
    }

    private static FramedTestClientOptions Asking(string serverName) => new()
    {
        // The name is refused before any certificate is sent; the client's own check never comes into it.
        Tls = new Ferry.Testing.TestClientTls { ServerName = serverName, AcceptAnyServerCertificate = true },
    };

    [Fact]
    public async Task A_client_asking_for_another_name_is_refused_and_the_detail_says_both_names()
    {
        await using var h = new FerryTestServer(Server(Named("localhost")));
        await h.StartAsync();
        var closed = await RefusedAsync(h, Asking("other.test"));
        Assert.Equal("name mismatch: the client asked for 'other.test' (SNI), this server is 'localhost' (tls.server_name)", closed.Detail);
    }

    [Fact]
    public async Task A_refused_name_is_not_logged_as_a_refused_client_certificate()
    {
        var logs = new CapturingLoggerFactory(LogLevel.Information, timestamps: false);
        await using var stage = new TcpServerStage(Server(Named("localhost")), loggerFactory: logs);
        var endPoint = await stage.StartAsync();
        try
        {
            await using var client = await FramedTestClient.ConnectAsync(endPoint, Asking("other.test"));
            await client.SendAsync("hello\n"u8.ToArray());
            await client.WaitClosedAsync();
        }
        catch (Exception ex) when (ex is AuthenticationException or IOException)
        {
        }
        await Poll.UntilAsync(() => stage.GetStats().TlsFailuresTotal == 1, "the refusal");
        Assert.DoesNotContain(logs.All, l => l.Contains("client certificate refused", StringComparison.Ordinal));
    }

    [OpenSslTheory]
    [InlineData("-tls1_2")]
    [InlineData("-tls1_3")]
    public async Task A_client_resuming_a_session_of_the_served_name_while_asking_for_another_is_refused(string version)
    {
        // Before, on epoll: a TLS 1.2 resumption was checked against the name stored in the session (SSL_get_servername
        // gives that one then), so a session made for 'localhost' let the client ask for any name and be served.
        await using var h = new FerryTestServer(Server(Named("localhost")));
        await h.StartAsync();
        var dir = Directory.CreateTempSubdirectory("ferry-sni-resume-");
        try
        {
            var session = Path.Combine(dir.FullName, "s1");
            using (var first = SClientProcess.Start(OpenSslClientTests.OpenSsl!,
                       ["s_client", "-connect", h.EndPoint.ToString(), "-servername", "localhost", version, "-sess_out", session]))
            {
                await Poll.UntilAsync(() => first.Output.Contains("Cipher is") || first.Process.HasExited, "the first handshake", seen: () => first.Output);
                await first.Process.StandardInput.WriteLineAsync("first");
                await first.Process.StandardInput.FlushAsync();
                await h.WaitForPacketsAsync(p => p.Any(x => x.Text == "first"), "the first client's line");
                if (serverTransport == StageTransport.Epoll) // the epoll transport issues a ticket on every full handshake
                    await Poll.UntilAsync(() => File.Exists(session) && new FileInfo(session).Length > 0, "s_client to save its session", seen: () => first.Output);
                first.Process.StandardInput.Close();
                using var exited = new CancellationTokenSource(TimeSpan.FromSeconds(10));
                await first.Process.WaitForExitAsync(exited.Token);
            }

            List<string> args = ["s_client", "-connect", h.EndPoint.ToString(), "-servername", "other.test", version];
            if (File.Exists(session))
                args.AddRange(["-sess_in", session]);
            using var second = SClientProcess.Start(OpenSslClientTests.OpenSsl!, args);
            var closed = await h.WaitForEventAsync<DisconnectedEvent>(d => d.Reason == DisconnectReason.TlsError);
            Assert.Equal("name mismatch: the client asked for 'other.test' (SNI), this server is 'localhost' (tls.server_name)", closed.Detail);
            using (var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(10)))
                await second.Process.WaitForExitAsync(deadline.Token);
            Assert.DoesNotContain("Reused,", second.Output);
            Assert.Single(h.Events.OfType<ConnectedEvent>());
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    [Theory]
    [InlineData("127.0.0.1")]
    [InlineData("::1")]
    public void An_ip_address_sent_as_sni_names_no_host_and_is_served_as_no_sni(string address)
    {
        // RFC 6066 allows no addresses in SNI, but clients send the one they dialled (Node.js warns and sends it).
        var served = ServedName.Of(Named("localhost"))!;
        Assert.Null(served.Refusal(address));
        Assert.NotNull(served.Refusal("other.test"));
    }

    [Fact]
    public void An_internationalised_name_is_compared_in_its_ascii_form_whichever_form_each_side_gives()
    {
        // SslStream hands the hello's name over in Unicode, OpenSSL in the ASCII form the client sent; certificates carry ASCII.
        var ascii = ServedName.Of(Named("xn--bcher-kva.example"))!;
        Assert.Null(ascii.Refusal("bücher.example"));
        Assert.Null(ascii.Refusal("XN--BCHER-KVA.EXAMPLE."));
        var unicode = ServedName.Of(Named("bücher.example"))!;
        Assert.Null(unicode.Refusal("xn--bcher-kva.example"));
        Assert.Equal("name mismatch: the client asked for 'xn--bchern-3ya.example' (SNI), this server is 'xn--bcher-kva.example' (tls.server_name)",
            unicode.Refusal("büchern.example"));
    }

    [Theory]
    [InlineData(new byte[] { 0, 12, 0, 0, 9, (byte)'l', (byte)'o', (byte)'c', (byte)'a', (byte)'l', (byte)'h', (byte)'o', (byte)'s', (byte)'t' }, "localhost")]
    [InlineData(new byte[] { 0, 8, 7, 0, 1, (byte)'x', 0, 0, 1, (byte)'y' }, "y")] // an entry of another type first
    [InlineData(new byte[] { 0, 12, 0, 0, 9, (byte)'l' }, null)] // the list's length says more than is there
    [InlineData(new byte[] { 0 }, null)]
    public void The_host_name_is_read_out_of_the_server_name_extension(byte[] extension, string? expected)
        => Assert.Equal(expected, Ferry.Transport.Tls.OpenSsl.SniExtension.HostName(extension));

    [OpenSslTheory]
    [InlineData("-tls1_3")]
    [InlineData("-tls1_2")]
    public async Task A_refused_name_is_told_to_an_openssl_client_on_epoll_by_an_unrecognized_name_alert(string version)
    {
        await using var h = new FerryTestServer(Server(Named("localhost")));
        await h.StartAsync();
        using var sclient = SClientProcess.Start(OpenSslClientTests.OpenSsl!, ["s_client", "-connect", h.EndPoint.ToString(), "-servername", "other.test", version]);
        var process = sclient.Process;
        try
        {
            var closed = await h.WaitForEventAsync<DisconnectedEvent>();
            Assert.Equal(DisconnectReason.TlsError, closed.Reason);
            Assert.Equal("name mismatch: the client asked for 'other.test' (SNI), this server is 'localhost' (tls.server_name)", closed.Detail);
            using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            await process.WaitForExitAsync(deadline.Token);
            // SslStream (streams) closes without an alert; OpenSSL (epoll) says why.
            if (serverTransport == StageTransport.Epoll)
                Assert.Contains("unrecognized name", sclient.Output); // OpenSSL 3: "tlsv1 unrecognized name" (0A000458)
        }
        finally
        {
            process.StandardInput.Close();
            if (!process.WaitForExit(5000))
                process.Kill();
        }
    }

    [Theory]
    [InlineData("a.test", "CN=a.test")]
    [InlineData("api.b.test", "CN=*.b.test")]
    public async Task The_names_of_the_sni_certificates_are_served_too(string serverName, string subject)
    {
        using var a = CertificateMaker.CreateServer(TestCertificates.Authority, ["a.test"], Now.AddMinutes(-5), Now.AddDays(1));
        using var b = CertificateMaker.CreateServer(TestCertificates.Authority, ["*.b.test"], Now.AddMinutes(-5), Now.AddDays(1));
        await using var h = new FerryTestServer(Server(Named("localhost") with
        {
            SniCertificates = new Dictionary<string, TlsCertificate> { ["a.test"] = TestCertificates.AsOption(a), ["*.b.test"] = TestCertificates.AsOption(b) },
        }));
        await h.StartAsync();
        var closed = await RefusedAsync(h, Asking("c.test"));
        Assert.Equal("name mismatch: the client asked for 'c.test' (SNI), this server is 'localhost' (tls.server_name) (and a.test, *.b.test in tls.sni_certificates)",
            closed.Detail);

        await using var client = await FramedTestClient.ConnectAsync(h.EndPoint, TestCertificates.TrustingClient(serverName: serverName));
        Assert.Equal(subject, client.Tls!.RemoteCertificate!.Subject);
        var connected = await h.WaitForConnectionAsync(client.LocalEndPoint);
        Assert.Equal(serverName, connected.Tls!.ServerName);
    }

    [Theory]
    [InlineData("A.Test.", "CN=a.test")]
    [InlineData("API.B.TEST.", "CN=*.b.test")]
    public async Task An_sni_name_with_a_trailing_dot_or_other_case_gets_its_sni_certificate_as_the_name_check_lets_it_through(string serverName, string subject)
    {
        // Before: the name check stripped the dot, the certificate choice did not: the client got the default certificate.
        using var a = CertificateMaker.CreateServer(TestCertificates.Authority, ["a.test"], Now.AddMinutes(-5), Now.AddDays(1));
        using var b = CertificateMaker.CreateServer(TestCertificates.Authority, ["*.b.test"], Now.AddMinutes(-5), Now.AddDays(1));
        await using var h = new FerryTestServer(Server(Named("localhost") with
        {
            SniCertificates = new Dictionary<string, TlsCertificate> { ["a.test"] = TestCertificates.AsOption(a), ["*.b.test"] = TestCertificates.AsOption(b) },
        }));
        await h.StartAsync();
        await using var client = await FramedTestClient.ConnectAsync(h.EndPoint, Asking(serverName));
        Assert.Equal(subject, client.Tls!.RemoteCertificate!.Subject);
    }

    [Fact]
    public void A_server_name_the_certificate_does_not_carry_is_an_options_error_that_says_its_names()
    {
        var problems = Assert.Throws<StageOptionsException>(() => new TcpServerStage(Server(Named("gw.example")))).Problems;
        Assert.Equal(["TcpServerStageOptions.Tls.ServerName: 'gw.example' is not a name of the server's certificate (CN=localhost; names localhost, 127.0.0.1), "
            + "so clients reaching the server by that name would refuse it; set it to a name the certificate carries, or give a certificate issued for it"], problems);
    }

    [Fact]
    public async Task A_rotated_certificate_that_does_not_carry_the_server_name_is_kept_out()
    {
        var dir = Directory.CreateTempSubdirectory("ferry-served-name-");
        try
        {
            var certFile = Path.Combine(dir.FullName, "server.pem");
            var keyFile = Path.Combine(dir.FullName, "server.key");
            async Task WriteAsync(X509Certificate2 certificate)
            {
                var (cert, key) = CertificateMaker.ToPem(certificate);
                await File.WriteAllTextAsync(certFile, cert);
                await File.WriteAllTextAsync(keyFile, key);
            }
            using var first = CertificateMaker.CreateServer(TestCertificates.Authority, ["localhost"], Now.AddMinutes(-5), Now.AddDays(1));
            using var elsewhere = CertificateMaker.CreateServer(TestCertificates.Authority, ["other.test"], Now.AddMinutes(-5), Now.AddDays(2));
            await WriteAsync(first);
            var time = new Microsoft.Extensions.Time.Testing.FakeTimeProvider(Now);
            var tls = Named("localhost") with { Certificate = new TlsCertificate { CertificateFile = certFile, PrivateKeyFile = keyFile } };
            await using var stage = new TcpServerStage(Server(tls), timeProvider: time);
            var endPoint = await stage.StartAsync();
            await WriteAsync(elsewhere);
            time.Advance(TimeSpan.FromSeconds(2)); // the files are looked at once a second on the stage clock
            await using var client = await FramedTestClient.ConnectAsync(endPoint, TestCertificates.TrustingClient());
            using var served = X509CertificateLoader.LoadCertificate(client.Tls!.RemoteCertificate!.GetRawCertData());
            Assert.Equal(first.Thumbprint, served.Thumbprint);
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    [Theory]
    [InlineData("gw.example.test", true)]
    [InlineData("GW.Example.Test.", true)]
    [InlineData("example.test", false)]
    [InlineData("a.gw.example.test", false)]
    public void A_wildcard_certificate_carries_one_label_under_its_domain(string serverName, bool carried)
    {
        using var wildcard = CertificateMaker.CreateServer(TestCertificates.Authority, ["*.example.test"], Now.AddMinutes(-5), Now.AddDays(1));
        var options = Server(Named(serverName) with { Certificate = TestCertificates.AsOption(wildcard) });
        var thrown = Record.Exception(() => new TcpServerStage(options).DisposeAsync().AsTask().GetAwaiter().GetResult());
        if (carried)
            Assert.Null(thrown);
        else
            Assert.Contains("is not a name of the server's certificate (CN=*.example.test; names *.example.test)", Assert.IsType<StageOptionsException>(thrown).Message);
    }

    [Theory]
    [InlineData("gw example.com")]
    [InlineData("localhost,127.0.0.1")]
    public void A_server_name_that_is_not_a_name_is_an_options_error(string serverName)
    {
        var problems = Assert.Throws<StageOptionsException>(() => new TcpServerStage(Server(Named(serverName)))).Problems;
        Assert.Equal([$"TcpServerStageOptions.Tls.ServerName: '{serverName}' is not a DNS name or an IP address, so no client could reach the server by it; "
            + "give the name clients dial, which the server's certificate carries, e.g. gw.example.com"], problems);
    }
}
