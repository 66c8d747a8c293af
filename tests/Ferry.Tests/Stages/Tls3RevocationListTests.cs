using System.Net;
using System.Numerics;
using System.Security.Authentication;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Ferry.Framing;
using Ferry.Stages;
using Ferry.Testing;
using Ferry.Tests.Bridge;
using Ferry.Tests.Support;
using Ferry.Transport;
using Ferry.Transport.Tls;
using Microsoft.Extensions.Logging;

namespace Ferry.Tests.Stages;

/// <summary>
/// The certificate revocation list as a running gateway needs it: read again when its file changes (a newly revoked client
/// is refused without a restart; a broken new list keeps the old one and says so), and failing closed once it is past its
/// nextUpdate by the stage clock, told once by a warning that names the file and the date.
/// </summary>
public abstract class Tls3RevocationListTests(StageTransport transport) : IDisposable
{
    public sealed class OnStream() : Tls3RevocationListTests(StageTransport.Stream);

    public sealed class OnEpoll() : Tls3RevocationListTests(StageTransport.Epoll);

    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("ferry-tls3-crl-");

    public void Dispose() => _dir.Delete(recursive: true);

    private string CrlFile => Path.Combine(_dir.FullName, "ca.crl");

    private TcpServerStageOptions Server() => new()
    {
        Bind = "127.0.0.1:0",
        Transport = transport,
        Framing = FramingSpec.Parse("lines"),
        Tls = TestCertificates.MutualTlsServer with
        {
            CertificateRevocationListFile = CrlFile,
        },
    };

    /// <summary>A stage clock at the real now (the test certificates are valid from a few minutes ago), moved by hand.</summary>
    private static StageTime ClockAt(DateTimeOffset now)
    {
        var time = new StageTime();
        time.SetUtcNow(now);
        return time;
    }

    /// <summary>Whether the stage takes <paramref name="certificate"/>: a line it sends arrives, or its handshake is counted failed.</summary>
    private static async Task<bool> AcceptedAsync(TcpServerStage stage, IPEndPoint endPoint, X509Certificate2 certificate)
    {
        var before = stage.GetStats();
        try
        {
            await using var client = await FramedTestClient.ConnectAsync(endPoint, TestCertificates.TrustingClient(clientCertificate: certificate));
            await client.SendAsync("hello\n");
            await Poll.UntilAsync(() => stage.GetStats().PacketsReceivedTotal > before.PacketsReceivedTotal || stage.GetStats().TlsFailuresTotal > before.TlsFailuresTotal,
                "the line or the refusal");
        }
        catch (Exception ex) when (ex is AuthenticationException or IOException)
        {
            // Refused inside the handshake (epoll, or TLS 1.2): the failure is counted below.
        }
        await Poll.UntilAsync(() => stage.GetStats().PacketsReceivedTotal > before.PacketsReceivedTotal || stage.GetStats().TlsFailuresTotal > before.TlsFailuresTotal,
            "the line or the refusal");
        return stage.GetStats().TlsFailuresTotal == before.TlsFailuresTotal;
    }

    [Fact]
    public async Task A_crl_file_that_changes_is_read_again_and_a_broken_one_keeps_the_list_in_service_and_says_so()
    {
        var now = DateTimeOffset.UtcNow;
        using var lost = CertificateMaker.CreateClient(TestCertificates.Authority, "lost-terminal", now.AddMinutes(-5), now.AddDays(1));
        await File.WriteAllTextAsync(CrlFile, ListIssuedAt(now.AddMinutes(-2), now.AddDays(7)));
        var time = ClockAt(now);
        var logs = new CapturingLoggerFactory(LogLevel.Information, timestamps: false);
        await using var stage = new TcpServerStage(Server(), loggerFactory: logs, timeProvider: time);
        var endPoint = await stage.StartAsync();
        Assert.True(await AcceptedAsync(stage, endPoint, lost));

        // The CA publishes a list that revokes the lost terminal: the next handshake a second later (stage clock) obeys it.
        // Before the fix the list was read at the start only, and the lost terminal was served until a restart.
        await File.WriteAllTextAsync(CrlFile, ListIssuedAt(now.AddMinutes(-1), now.AddDays(7), lost));
        time.Advance(TimeSpan.FromSeconds(2));
        Assert.False(await AcceptedAsync(stage, endPoint, lost));
        var reloaded = Assert.Single(logs.All, l => l.Contains("revocation list reloaded", StringComparison.Ordinal));
        Assert.StartsWith("Information ", reloaded);
        Assert.Contains(CrlFile, reloaded);
        Assert.Contains("1 revoked", reloaded);
        Assert.True(await AcceptedAsync(stage, endPoint, TestCertificates.Client));

        // Caught half-written: the list in service stays (the lost terminal is still refused), told once per change.
        var full = await File.ReadAllTextAsync(CrlFile);
        await File.WriteAllTextAsync(CrlFile, full[..(full.Length / 2)]);
        time.Advance(TimeSpan.FromSeconds(2));
        Assert.False(await AcceptedAsync(stage, endPoint, lost));
        time.Advance(TimeSpan.FromSeconds(2));
        Assert.False(await AcceptedAsync(stage, endPoint, lost));
        var kept = Assert.Single(logs.All, l => l.Contains("revocation list", StringComparison.Ordinal) && l.Contains("cannot be used", StringComparison.Ordinal));
        Assert.StartsWith("Warning ", kept);
        Assert.Contains(CrlFile, kept);
        Assert.Contains("1 revoked", kept); // the list that stays
    }

    [Fact]
    public async Task A_crl_past_its_next_update_refuses_its_issuers_clients_says_so_once_and_a_fresh_one_is_taken()
    {
        var now = DateTimeOffset.UtcNow;
        var nextUpdate = now.AddHours(1);
        await File.WriteAllTextAsync(CrlFile, ListIssuedAt(now.AddMinutes(-1), nextUpdate));
        var time = ClockAt(now);
        var logs = new CapturingLoggerFactory(LogLevel.Information, timestamps: false);
        await using var stage = new TcpServerStage(Server(), loggerFactory: logs, timeProvider: time);
        var endPoint = await stage.StartAsync();
        Assert.True(await AcceptedAsync(stage, endPoint, TestCertificates.Client));
        Assert.DoesNotContain(logs.All, l => l.Contains("has expired", StringComparison.Ordinal));

        // The CA stopped publishing: an hour and a minute later (stage clock) the list no longer says who is revoked.
        // Before the fix it was trusted silently for good.
        time.Advance(TimeSpan.FromMinutes(61));
        Assert.False(await AcceptedAsync(stage, endPoint, TestCertificates.Client));
        Assert.False(await AcceptedAsync(stage, endPoint, TestCertificates.Client));
        var expired = Assert.Single(logs.All, l => l.Contains("has expired", StringComparison.Ordinal)); // once, not per handshake
        Assert.StartsWith("Warning ", expired);
        Assert.Contains(CrlFile, expired);
        Assert.Contains(nextUpdate.UtcDateTime.ToString("u", System.Globalization.CultureInfo.InvariantCulture), expired);

        // A fresh list is taken at the next look and the clients are served again.
        await File.WriteAllTextAsync(CrlFile, ListIssuedAt(now.AddMinutes(60), now.AddDays(7)));
        time.Advance(TimeSpan.FromSeconds(2));
        Assert.True(await AcceptedAsync(stage, endPoint, TestCertificates.Client));
    }

    /// <summary>
    /// A list of the test CA issued at <paramref name="thisUpdate"/> (which may be ahead of every clock) that revokes <paramref name="revoked"/>.
    /// A list meant to be valid on a stage clock set to the test's <c>now</c> is issued a minute or more before it: one issued at
    /// the real now (<see cref="CertificateMaker.CreateRevocationList"/>) begins after that clock, by the time it took to get
    /// there (more than the second a thisUpdate is counted in, under load), and was not yet valid.
    /// </summary>
    private static string ListIssuedAt(DateTimeOffset thisUpdate, DateTimeOffset nextUpdate, params X509Certificate2[] revoked)
    {
        var builder = new CertificateRevocationListBuilder();
        foreach (var certificate in revoked)
            builder.AddEntry(certificate, thisUpdate, X509RevocationReason.KeyCompromise);
        var ca = TestCertificates.Authority;
        var der = builder.Build(ca, BigInteger.One, nextUpdate, HashAlgorithmName.SHA256, ca.GetRSAPrivateKey() is null ? null : RSASignaturePadding.Pkcs1, thisUpdate);
        return PemEncoding.WriteString("X509 CRL", der);
    }

    private static string U(DateTimeOffset time) => time.UtcDateTime.ToString("u", System.Globalization.CultureInfo.InvariantCulture);

    [Fact]
    public async Task A_crl_not_yet_valid_at_the_start_is_told_refuses_its_issuers_clients_and_is_used_once_the_stage_clock_reaches_it()
    {
        var now = DateTimeOffset.UtcNow;
        using var lost = CertificateMaker.CreateClient(TestCertificates.Authority, "lost-terminal", now.AddMinutes(-5), now.AddDays(1));
        // Made on a machine whose clock runs an hour ahead (or the stage's runs an hour behind).
        var thisUpdate = now.AddHours(1);
        await File.WriteAllTextAsync(CrlFile, ListIssuedAt(thisUpdate, now.AddDays(7), lost));
        var time = ClockAt(now);
        var logs = new CapturingLoggerFactory(LogLevel.Information, timestamps: false);
        await using var stage = new TcpServerStage(Server(), loggerFactory: logs, timeProvider: time);
        // Told at the start, before any client: on the old code the list was believed at once, and nothing was said.
        var early = Assert.Single(logs.All, l => l.Contains("is not yet valid: it begins at", StringComparison.Ordinal));
        Assert.StartsWith("Warning ", early);
        Assert.Contains(CrlFile, early);
        Assert.Contains(U(thisUpdate), early);
        var endPoint = await stage.StartAsync();

        // The only list cannot say who is revoked yet: its issuer's clients are refused (fail closed), as for an expired list.
        var refusals = new List<DisconnectedEvent>();
        stage.Disconnected += (_, e) => { lock (refusals) refusals.Add(e); };
        Assert.False(await AcceptedAsync(stage, endPoint, TestCertificates.Client));
        Assert.False(await AcceptedAsync(stage, endPoint, TestCertificates.Client));
        Assert.Single(logs.All, l => l.Contains("is not yet valid: it begins at", StringComparison.Ordinal)); // once, not per handshake
        await Poll.UntilAsync(() => { lock (refusals) return refusals.Count >= 2; }, "the refusals' disconnected events");
        DisconnectedEvent refused;
        lock (refusals)
            refused = refusals[0];
        Assert.StartsWith(PeerCertificateCheck.RevocationListNotYetValid, refused.Detail);
        Assert.Contains(CrlFile, refused.Detail);
        Assert.Equal("untrusted", Ferry.Hosting.Telemetry.FerryMetrics.TlsReason(refused));

        // The stage clock reaches its thisUpdate: the same file is used, without a restart, and said so.
        time.Advance(TimeSpan.FromMinutes(61));
        Assert.True(await AcceptedAsync(stage, endPoint, TestCertificates.Client));
        Assert.False(await AcceptedAsync(stage, endPoint, lost));
        var valid = Assert.Single(logs.All, l => l.Contains("is valid from now on", StringComparison.Ordinal));
        Assert.StartsWith("Information ", valid);
        Assert.Contains("1 revoked", valid);
    }

    [Fact]
    public async Task A_new_crl_not_yet_valid_keeps_the_list_in_service_says_so_once_and_is_taken_once_the_stage_clock_reaches_it()
    {
        var now = DateTimeOffset.UtcNow;
        using var lost = CertificateMaker.CreateClient(TestCertificates.Authority, "lost-terminal", now.AddMinutes(-5), now.AddDays(1));
        await File.WriteAllTextAsync(CrlFile, ListIssuedAt(now.AddMinutes(-1), now.AddDays(7)));
        var time = ClockAt(now);
        var logs = new CapturingLoggerFactory(LogLevel.Information, timestamps: false);
        await using var stage = new TcpServerStage(Server(), loggerFactory: logs, timeProvider: time);
        var endPoint = await stage.StartAsync();
        Assert.True(await AcceptedAsync(stage, endPoint, lost));

        // A list that begins in an hour: on the old code it was taken at once (the lost terminal refused an hour early, and a
        // wrong file believed for good). Now the list in service stays, told once for this change of the file.
        var thisUpdate = now.AddHours(1);
        await File.WriteAllTextAsync(CrlFile, ListIssuedAt(thisUpdate, now.AddDays(7), lost));
        time.Advance(TimeSpan.FromSeconds(2));
        Assert.True(await AcceptedAsync(stage, endPoint, lost));
        time.Advance(TimeSpan.FromSeconds(2));
        Assert.True(await AcceptedAsync(stage, endPoint, lost));
        var kept = Assert.Single(logs.All, l => l.Contains("cannot be used", StringComparison.Ordinal));
        Assert.StartsWith("Warning ", kept);
        Assert.Contains("it is not yet valid", kept);
        Assert.Contains(U(thisUpdate), kept);
        Assert.Contains("0 revoked", kept); // the list that stays
        Assert.DoesNotContain(logs.All, l => l.Contains("reloaded", StringComparison.Ordinal));

        // Its time comes: the file, unchanged, is taken at the next look.
        time.Advance(TimeSpan.FromMinutes(61));
        Assert.False(await AcceptedAsync(stage, endPoint, lost));
        var reloaded = Assert.Single(logs.All, l => l.Contains("revocation list reloaded", StringComparison.Ordinal));
        Assert.Contains("1 revoked", reloaded);
        Assert.True(await AcceptedAsync(stage, endPoint, TestCertificates.Client));
    }

    [OpenSslTheory]
    [InlineData("-tls1_3")]
    [InlineData("-tls1_2")]
    public async Task A_client_refused_for_a_crl_not_yet_valid_is_reported_as_untrusted_and_on_epoll_told_bad_certificate(string version)
    {
        var now = DateTimeOffset.UtcNow;
        await File.WriteAllTextAsync(CrlFile, ListIssuedAt(now.AddHours(1), now.AddDays(7)));
        var (closed, output) = await RefusedSClientAsync(version, ClockAt(now));
        Assert.StartsWith(PeerCertificateCheck.RevocationListNotYetValid, closed.Detail);
        if (transport == StageTransport.Epoll)
            Assert.Contains("alert bad certificate", output);
    }

    [OpenSslTheory]
    [InlineData("-tls1_3")]
    [InlineData("-tls1_2")]
    public async Task A_client_refused_for_an_expired_crl_is_reported_as_untrusted_and_on_epoll_told_certificate_expired(string version)
    {
        var now = DateTimeOffset.UtcNow;
        await File.WriteAllTextAsync(CrlFile, ListIssuedAt(now.AddMinutes(-1), now.AddHours(1)));
        var (closed, output) = await RefusedSClientAsync(version, ClockAt(now.AddHours(2))); // already expired at the start
        Assert.StartsWith("untrusted (RevocationStatusUnknown): the certificate revocation list", closed.Detail);
        Assert.Contains(CrlFile, closed.Detail);
        if (transport == StageTransport.Epoll)
            Assert.Contains("alert certificate expired", output);
    }

    /// <summary>
    /// A real <c>openssl s_client</c> with the tests' client certificate, refused by a stage on <paramref name="time"/>: the stage's
    /// disconnected event (a TLS error, reported as untrusted) and what s_client printed once it ended.
    /// </summary>
    private async Task<(DisconnectedEvent Closed, string Output)> RefusedSClientAsync(string version, TimeProvider time)
    {
        var (certificatePem, keyPem) = CertificateMaker.ToPem(TestCertificates.Client);
        var certificateFile = Path.Combine(_dir.FullName, "client.pem");
        var keyFile = Path.Combine(_dir.FullName, "client.key");
        await File.WriteAllTextAsync(certificateFile, certificatePem);
        await File.WriteAllTextAsync(keyFile, keyPem);
        await using var h = new FerryTestServer(Server(), time: time);
        await h.StartAsync();
        using var sclient = SClientProcess.Start(OpenSslClientTests.OpenSsl!,
            ["s_client", "-connect", h.EndPoint.ToString(), "-servername", "localhost", version, "-cert", certificateFile, "-key", keyFile]);
        var process = sclient.Process;
        try
        {
            await process.StandardInput.WriteLineAsync("hello");
            await process.StandardInput.FlushAsync();
            var closed = await h.WaitForEventAsync<DisconnectedEvent>();
            Assert.Equal(Ferry.Connections.DisconnectReason.TlsError, closed.Reason);
            Assert.Equal("untrusted", Ferry.Hosting.Telemetry.FerryMetrics.TlsReason(closed));
            using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            await process.WaitForExitAsync(deadline.Token);
            return (closed, sclient.Output);
        }
        finally
        {
            process.StandardInput.Close();
            if (!process.WaitForExit(5000))
                process.Kill();
        }
    }
}
