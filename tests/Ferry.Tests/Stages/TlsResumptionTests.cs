using System.Diagnostics;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using Ferry.Connections;
using Ferry.Framing;
using Ferry.Stages;
using Ferry.Tests.Support;
using Ferry.Transport;
using Ferry.Transport.Tls;

namespace Ferry.Tests.Stages;

/// <summary>
/// Mutual TLS and session resumption, with <c>openssl s_client</c> (<c>-sess_out</c>, <c>-sess_in</c>) and a client
/// certificate signed by an intermediate that the client sends only in a full handshake (a resuming client sends no
/// certificates). The epoll transport resumes such sessions and checks them again in full; the stream transport
/// does not resume when client certificates are asked for (SslStream would check a resumed session without the
/// intermediates), so every connection there is a full handshake.
/// </summary>
/// <param name="serverTransport">The server stage's transport: SslStream on streams, OpenSSL on epoll.</param>
public abstract class TlsResumptionTests(StageTransport serverTransport) : IDisposable
{
    public sealed class OnStream() : TlsResumptionTests(StageTransport.Stream);

    public sealed class OnEpoll() : TlsResumptionTests(StageTransport.Epoll);

    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("ferry-resume-");
    private readonly StageTime _time = new();

    public void Dispose() => _dir.Delete(recursive: true);

    private string P(string name) => Path.Combine(_dir.FullName, name);

    private bool Resumes => serverTransport == StageTransport.Epoll;

    [OpenSslTheory]
    [InlineData("-tls1_3")]
    [InlineData("-tls1_2")]
    public async Task A_client_whose_certificate_an_intermediate_signed_is_served_when_it_resumes_its_session(string version)
    {
        // Before: epoll refused every resumption with OpenSSL's fatal "session id context uninitialized"; streams resumed,
        // then refused the client as "untrusted (PartialChain)" (the resumed session has its certificate, not its chain).
        var root = await WriteChainAsync(_time.GetUtcNow().AddDays(1));
        await using var h = new FerryTestServer(Server(root), time: _time);
        await h.StartAsync();

        var first = await ConnectAsync(h, version, "first", sessionIn: null, sessionOut: "s1");
        Assert.Contains("New,", first);
        var second = await ConnectAsync(h, version, "second", sessionIn: "s1", sessionOut: "s2");
        Assert.Contains(Resumes ? "Reused," : "New,", second);
        if (version == "-tls1_3")
        {
            // A TLS 1.3 server seals a new ticket on the resumed session: it must carry the chain on.
            var third = await ConnectAsync(h, version, "third", sessionIn: "s2", sessionOut: null);
            Assert.Contains(Resumes ? "Reused," : "New,", third);
        }
        var connected = h.Events.OfType<ConnectedEvent>().ToList();
        Assert.Equal(version == "-tls1_3" ? 3 : 2, connected.Count);
        // What Ferry reports about the peer is the same on a resumed session as on the full handshake.
        Assert.All(connected, c => Assert.Equal("CN=terminal-9", c.Tls!.PeerCertificateSubject));
        Assert.Single(connected.Select(c => c.Tls!.PeerCertificateThumbprint).Distinct());
        Assert.DoesNotContain(h.Events.OfType<DisconnectedEvent>(), d => d.Reason == DisconnectReason.TlsError);
        Assert.Equal(0, h.Stage.GetStats().TlsFailuresTotal);
    }

    [OpenSslTheory]
    [InlineData("-tls1_3")]
    [InlineData("-tls1_2")]
    public async Task A_resumed_session_is_checked_again_and_refused_once_the_client_certificate_has_expired(string version)
    {
        var notAfter = _time.GetUtcNow().AddDays(1);
        var root = await WriteChainAsync(notAfter);
        await using var h = new FerryTestServer(Server(root), time: _time);
        await h.StartAsync();
        await ConnectAsync(h, version, "first", sessionIn: null, sessionOut: "s1");

        // The ticket is still good (OpenSSL ages it on the real clock); the certificate is not, on the stage's.
        _time.Advance(TimeSpan.FromDays(2));
        var output = await ConnectAsync(h, version, line: null, sessionIn: "s1", sessionOut: null);
        var closed = await h.WaitForEventAsync<DisconnectedEvent>(d => d.Reason == DisconnectReason.TlsError);
        Assert.Equal("expired", closed.Detail);
        if (Resumes)
            Assert.Contains("Reused,", output);
        Assert.Single(h.Events.OfType<ConnectedEvent>());
        Assert.Equal(1, h.Stage.GetStats().TlsFailuresTotal);
    }

    [OpenSslTheory]
    [InlineData("-tls1_3")]
    [InlineData("-tls1_2")]
    public async Task A_revoked_client_refused_in_its_full_handshake_gets_no_ticket_and_is_refused_again(string version)
    {
        // OpenSSL used to seal the tickets inside the handshake before Ferry judged the certificate (after it), so a refused
        // client held one, whose resumption had to be refused again. The certificate is judged inside the handshake now:
        // the refusal fails it before any ticket is sent. A client that comes back makes a full handshake and is refused.
        var now = DateTimeOffset.UtcNow;
        using var root = CertificateMaker.CreateAuthority("Resumption Root", TimeSpan.FromDays(30), now.AddDays(-1));
        using var lost = CertificateMaker.CreateClient(root, "lost-terminal", now.AddHours(-1), now.AddDays(1));
        var (certificatePem, keyPem) = CertificateMaker.ToPem(lost);
        await File.WriteAllTextAsync(P("client.pem"), certificatePem);
        await File.WriteAllTextAsync(P("client.key"), keyPem);
        await File.WriteAllTextAsync(P("intermediate.pem"), root.ExportCertificatePem());
        var crl = CertificateMaker.CreateRevocationList(root, [lost], null, now.AddDays(7));
        // The list is dated on the real clock as it is made: the stage clock is set after, or the list began after it (a
        // second boundary crossed between the two) and was not yet valid: the client refused as untrusted, not revoked.
        _time.SetUtcNow(DateTimeOffset.UtcNow);
        var options = Server(root);
        await using var h = new FerryTestServer(options with
        {
            Tls = options.Tls! with { CertificateRevocationListPem = crl },
        }, time: _time);
        await h.StartAsync();

        await ConnectAsync(h, version, line: null, sessionIn: null, sessionOut: "s1", refused: true);
        await h.WaitForEventAsync<DisconnectedEvent>(d => d.Detail == "revoked");
        var output = await ConnectAsync(h, version, line: null, sessionIn: "s1", sessionOut: null, refused: true);
        await Poll.UntilAsync(() => h.Events.OfType<DisconnectedEvent>().Count() == 2, "the second connection to be closed");
        Assert.All(h.Events.OfType<DisconnectedEvent>(), d => Assert.Equal("revoked", d.Detail));
        Assert.DoesNotContain("Reused,", output);
        Assert.Empty(h.Events.OfType<ConnectedEvent>());
        Assert.Equal(2, h.Stage.GetStats().TlsFailuresTotal);
    }

    [OpenSslTheory]
    [InlineData("-tls1_3")]
    [InlineData("-tls1_2")]
    public async Task A_client_whose_intermediates_are_too_large_for_a_ticket_makes_a_full_handshake_each_time_and_is_served(string version)
    {
        // Before: epoll sealed its tickets without the chain, resumed them, and refused the client as "untrusted (PartialChain)".
        var root = await WriteChainAsync(_time.GetUtcNow().AddDays(1), intermediatePadding: 20_000);
        Assert.True(new FileInfo(P("intermediate.pem")).Length > 4 * 20_000 / 3, "the intermediate is over the ticket's limit");
        await using var h = new FerryTestServer(Server(root), time: _time);
        await h.StartAsync();

        Assert.Contains("New,", await ConnectAsync(h, version, "first", sessionIn: null, sessionOut: "s1"));
        Assert.Contains("New,", await ConnectAsync(h, version, "second", sessionIn: "s1", sessionOut: "s2"));
        Assert.Contains("New,", await ConnectAsync(h, version, "third", sessionIn: "s2", sessionOut: null));
        Assert.Equal(3, h.Events.OfType<ConnectedEvent>().Count());
        Assert.DoesNotContain(h.Events.OfType<DisconnectedEvent>(), d => d.Reason == DisconnectReason.TlsError);
        Assert.Equal(0, h.Stage.GetStats().TlsFailuresTotal);
    }

    private TcpServerStageOptions Server(X509Certificate2 root) => new()
    {
        Bind = "127.0.0.1:0",
        Transport = serverTransport,
        Framing = FramingSpec.Parse("lines"),
        Tls = new TlsOptions
        {
            Secure = true,
            Certificate = TestCertificates.ServerCertificate,
            CaCertificatePem = root.ExportCertificatePem(),
            ClientCertificate = ClientCertificateMode.Required,
        },
    };

    /// <summary>
    /// Root, intermediate and client (valid until <paramref name="clientNotAfter"/>) on the stage's clock; writes the client's files, returns the root.
    /// An <paramref name="intermediatePadding"/> adds that many bytes to the intermediate, in an extension no one reads.
    /// </summary>
    private async Task<X509Certificate2> WriteChainAsync(DateTimeOffset clientNotAfter, int intermediatePadding = 0)
    {
        var now = _time.GetUtcNow();
        var root = CertificateMaker.CreateAuthority("Resumption Root", TimeSpan.FromDays(30), now.AddDays(-1));
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=Resumption Intermediate", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        if (intermediatePadding > 0)
        {
            var padding = new System.Formats.Asn1.AsnWriter(System.Formats.Asn1.AsnEncodingRules.DER);
            padding.WriteOctetString(new byte[intermediatePadding]);
            request.CertificateExtensions.Add(new X509Extension("1.3.6.1.4.1.55555.1", padding.Encode(), critical: false));
        }
        using var signed = request.Create(root, now.AddDays(-1), now.AddDays(20), [0x01, 0x42]);
        using var intermediate = signed.CopyWithPrivateKey(key);
        using var client = CertificateMaker.CreateClient(intermediate, "terminal-9", now.AddHours(-1), clientNotAfter);
        var (certificatePem, keyPem) = CertificateMaker.ToPem(client);
        await File.WriteAllTextAsync(P("client.pem"), certificatePem);
        await File.WriteAllTextAsync(P("client.key"), keyPem);
        await File.WriteAllTextAsync(P("intermediate.pem"), intermediate.ExportCertificatePem());
        return root;
    }

    /// <summary>
    /// One s_client connection that sends its intermediate in a full handshake (as any client configured with its chain),
    /// resumes <paramref name="sessionIn"/> when that file was written, and saves its session to <paramref name="sessionOut"/>.
    /// With a <paramref name="line"/>, waits for the stage to receive it and (on epoll) for the session to be saved; a <paramref name="refused"/>
    /// client is left to read until the stage closes the connection (and so to take the tickets sent before). Returns s_client's output.
    /// </summary>
    private async Task<string> ConnectAsync(FerryTestServer h, string version, string? line, string? sessionIn, string? sessionOut, bool refused = false)
    {
        List<string> args = ["s_client", "-connect", h.EndPoint.ToString(), "-servername", "localhost", version,
            "-cert", P("client.pem"), "-key", P("client.key"), "-cert_chain", P("intermediate.pem")];
        if (sessionIn is not null && File.Exists(P(sessionIn)))
            args.AddRange(["-sess_in", P(sessionIn)]);
        if (sessionOut is not null)
            args.AddRange(["-sess_out", P(sessionOut)]);
        using var sclient = SClientProcess.Start(OpenSslClientTests.OpenSsl!, args);
        var process = sclient.Process;
        string Seen() => sclient.Output;
        try
        {
            await Poll.UntilAsync(() => Seen().Contains("Cipher is") || process.HasExited, "s_client to finish its handshake", seen: Seen);
            if (line is not null)
            {
                await process.StandardInput.WriteLineAsync(line);
                await process.StandardInput.FlushAsync();
                await h.WaitForPacketsAsync(p => p.Any(x => Encoding.ASCII.GetString(x.Payload) == line), $"the line '{line}'");
                // The epoll transport issues a ticket on every handshake (TLS 1.2: full ones only); a TLS 1.3 ticket comes after it.
                if (sessionOut is not null && Resumes && (version == "-tls1_3" || sessionIn is null))
                    await Poll.UntilAsync(() => File.Exists(P(sessionOut)) && new FileInfo(P(sessionOut)).Length > 0, "s_client to save its session", seen: Seen);
            }
        }
        finally
        {
            if (refused)
            {
                using var closed = new CancellationTokenSource(TimeSpan.FromSeconds(10));
                await process.WaitForExitAsync(closed.Token).ContinueWith(_ => { }, TaskScheduler.Default);
            }
            process.StandardInput.Close();
            // WaitForExitAsync also waits for the last of its output (WaitForExit(ms) may return before it is read).
            using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            try
            {
                await process.WaitForExitAsync(deadline.Token);
            }
            catch (OperationCanceledException)
            {
                process.Kill();
            }
        }
        return Seen();
    }
}
