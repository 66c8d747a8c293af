using System.Security.Cryptography.X509Certificates;
using System.Security.Authentication;
using Ferry.Cli;
using Ferry.Connections;
using Ferry.Framing;
using Ferry.Stages;
using Ferry.Tests.Support;
using Ferry.Transport;
using Ferry.Transport.Tls;

namespace Ferry.Tests.Stages;

/// <summary>Mutual TLS with a certificate revocation list: made by <see cref="CertificateMaker"/> (as <c>ferry cert crl</c>) and by the command.</summary>
/// <param name="serverTransport">The server stage's transport: SslStream on streams, OpenSSL on epoll.</param>
public abstract class RevocationTests(StageTransport serverTransport) : IDisposable
{
    public sealed class OnStream() : RevocationTests(StageTransport.Stream);

    public sealed class OnEpoll() : RevocationTests(StageTransport.Epoll);

    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("ferry-crl-");

    public void Dispose() => _dir.Delete(recursive: true);

    private TcpServerStageOptions Server(string crlPem) => new()
    {
        Bind = "127.0.0.1:0",
        Transport = serverTransport,
        Framing = FramingSpec.Parse("lines"),
        Tls = TestCertificates.MutualTlsServer with
        {
            CertificateRevocationListPem = crlPem,
        },
    };

    [OpenSslTheory]
    [InlineData("-tls1_3")]
    [InlineData("-tls1_2")]
    public async Task An_openssl_client_with_a_certificate_from_an_impostor_authority_is_refused_as_untrusted_on_every_transport_and_version(string version)
    {
        // A .NET client (SslStream at both ends) never reaches this failure: s_client, given -CAfile, completes its chain
        // from it and sends the real CA (the same name as the impostor's) after its certificate. SslStream's OpenSSL then
        // checks the impostor's signature against that CA and leaves the failure in its error queue, which fails the
        // TLS 1.3 handshake before Ferry's certificate check runs. The detail was "Authentication failed, see inner
        // exception.", then OpenSSL's reason ("tls handshake failed: error:06880006:asn1 encoding routines::EVP lib",
        // metrics tag "failed"); it is "untrusted" on every transport and version now, as the README promises. The CRL
        // is the review's setup.
        var now = DateTimeOffset.UtcNow;
        var crl = CertificateMaker.CreateRevocationList(TestCertificates.Authority, [], null, now.AddDays(1));
        using var impostor = CertificateMaker.CreateAuthority(TestCertificates.Authority.GetNameInfo(X509NameType.SimpleName, false), TimeSpan.FromDays(30), now.AddDays(-10));
        using var forged = CertificateMaker.CreateClient(impostor, "terminal-7", now.AddMinutes(-5), now.AddDays(1));
        var (certificatePem, keyPem) = CertificateMaker.ToPem(forged);
        string P(string name) => Path.Combine(_dir.FullName, name);
        await File.WriteAllTextAsync(P("forged.pem"), certificatePem);
        await File.WriteAllTextAsync(P("forged.key"), keyPem);
        await File.WriteAllTextAsync(P("ca.pem"), TestCertificates.AuthorityPem);
        await using var h = new FerryTestServer(Server(crl));
        await h.StartAsync();
        using var sclient = SClientProcess.Start(OpenSslClientTests.OpenSsl!, ["s_client", "-connect", h.EndPoint.ToString(), "-servername", "localhost",
            "-CAfile", P("ca.pem"), "-cert", P("forged.pem"), "-key", P("forged.key"), version]);
        var process = sclient.Process;
        try
        {
            await process.StandardInput.WriteLineAsync("hello");
            await process.StandardInput.FlushAsync();
            var closed = await h.WaitForEventAsync<DisconnectedEvent>();
            Assert.Equal(DisconnectReason.TlsError, closed.Reason);
            Assert.DoesNotContain("inner exception", closed.Detail);
            Assert.StartsWith("untrusted (NotSignatureValid)", closed.Detail);
            Assert.Equal("untrusted", Ferry.Hosting.Telemetry.FerryMetrics.TlsReason(closed));
            if (serverTransport == StageTransport.Stream && version == "-tls1_3")
                Assert.Contains("(OpenSSL: error:", closed.Detail); // where the refusal came from, in OpenSSL's words
            Assert.Empty(h.Events.OfType<ConnectedEvent>());
            Assert.Equal(1, h.Stage.GetStats().TlsFailuresTotal);
        }
        finally
        {
            process.StandardInput.Close();
            if (!process.WaitForExit(5000))
                process.Kill();
        }
    }

    [Fact]
    public async Task A_revoked_client_certificate_is_refused_as_revoked_and_counted_and_others_are_served()
    {
        var now = DateTimeOffset.UtcNow;
        using var lost = CertificateMaker.CreateClient(TestCertificates.Authority, "lost-terminal", now.AddMinutes(-5), now.AddDays(1));
        var crl = CertificateMaker.CreateRevocationList(TestCertificates.Authority, [lost], null, now.AddDays(1));
        await using var h = new FerryTestServer(Server(crl));
        await h.StartAsync();
        try
        {
            // Under TLS 1.3 the client finishes before the server has judged its certificate; it learns on its next read.
            await using var client = await FramedTestClient.ConnectAsync(h.EndPoint, TestCertificates.TrustingClient(clientCertificate: lost));
            Assert.True(await client.WaitClosedAsync());
        }
        catch (Exception ex) when (ex is AuthenticationException or IOException)
        {
        }
        var closed = await h.WaitForEventAsync<DisconnectedEvent>();
        Assert.Equal(DisconnectReason.TlsError, closed.Reason);
        Assert.Equal("revoked", closed.Detail);
        Assert.Equal(1, h.Stage.GetStats().TlsFailuresTotal);

        await using var good = await FramedTestClient.ConnectAsync(h.EndPoint, TestCertificates.TrustingClient(clientCertificate: TestCertificates.Client));
        var connected = await h.WaitForConnectionAsync(good.LocalEndPoint);
        Assert.Equal("CN=terminal-7", connected.Tls!.PeerCertificateSubject);
    }

    [Fact]
    public void A_crl_that_is_not_from_the_ca_bundle_or_not_a_crl_is_an_options_error()
    {
        var now = DateTimeOffset.UtcNow;
        using var other = CertificateMaker.CreateAuthority("Some Other CA", TimeSpan.FromDays(1));
        var foreign = CertificateMaker.CreateRevocationList(other, [], null, now.AddDays(1));
        var problems = Assert.Throws<StageOptionsException>(() => new TcpServerStage(Server(foreign))).Problems;
        Assert.Contains(problems, p => p.Contains("issued by 'CN=Some Other CA', which is not in the CA bundle"));
        problems = Assert.Throws<StageOptionsException>(() => new TcpServerStage(Server(TestCertificates.AuthorityPem))).Problems;
        Assert.Contains(problems, p => p.Contains("no '-----BEGIN X509 CRL-----' block found"));
        problems = Assert.Throws<StageOptionsException>(() => new TcpServerStage(Server(foreign) with
        {
            Tls = Server(foreign).Tls! with { ClientCertificate = ClientCertificateMode.None },
        })).Problems;
        Assert.Contains(problems, p => p.Contains("applies to server stages asking for client certificates"));
    }

    [Fact]
    public async Task Ferry_cert_crl_revokes_and_adds_to_an_existing_list()
    {
        string P(string name) => Path.Combine(_dir.FullName, name);
        async Task<(int, string)> Cert(params string[] args)
        {
            var err = new LineWriter();
            var code = await FerryCommand.RunAsync(["cert", .. args], TextReader.Null, new LineWriter(), err, CancellationToken.None);
            return (code, string.Join("\n", err.Lines));
        }
        Assert.Equal(0, (await Cert("ca", "--out", P("ca"))).Item1);
        Assert.Equal(0, (await Cert("client", "--ca", P("ca"), "--name", "t1", "--out", P("t1"))).Item1);
        Assert.Equal(0, (await Cert("client", "--ca", P("ca"), "--name", "t2", "--out", P("t2"))).Item1);
        Assert.Equal(0, (await Cert("crl", "--ca", P("ca"), "--revoke", P("t1.pem"), "--out", P("ca"))).Item1);
        Assert.Equal(0, (await Cert("crl", "--ca", P("ca"), "--revoke", P("t2.pem"), "--out", P("ca"))).Item1);
        var cas = new System.Security.Cryptography.X509Certificates.X509Certificate2Collection();
        cas.ImportFromPemFile(P("ca.pem"));
        var list = RevocationList.Load(null, P("ca.crl"), cas)!;
        Assert.Equal(2, list.Count);
        Assert.True(list.Revokes(System.Security.Cryptography.X509Certificates.X509Certificate2.CreateFromPem(File.ReadAllText(P("t1.pem")))));
        Assert.True(list.Revokes(System.Security.Cryptography.X509Certificates.X509Certificate2.CreateFromPem(File.ReadAllText(P("t2.pem")))));
        Assert.False(list.Revokes(TestCertificates.Client));

        var (code, err) = await Cert("crl", "--out", P("x"));
        Assert.Equal(2, code);
        Assert.Contains("a crl needs --ca PATH", err);
        (code, err) = await Cert("crl", "--ca", P("ca"), "--revoke", P("nothing.pem"), "--out", P("ca"));
        Assert.Equal(2, code);
        Assert.Contains("--revoke", err);
    }
}
