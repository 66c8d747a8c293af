using System.Net;
using System.Security.Authentication;
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
        Tls = new TlsOptions
        {
            Secure = true,
            Certificate = TestCertificates.ServerCertificate,
            CaCertificatePem = TestCertificates.AuthorityPem,
            ClientCertificate = ClientCertificateMode.Required,
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
        var empty = CertificateMaker.CreateRevocationList(TestCertificates.Authority, [], null, now.AddDays(7));
        await File.WriteAllTextAsync(CrlFile, empty);
        var time = ClockAt(now);
        var logs = new CapturingLoggerFactory(LogLevel.Information, timestamps: false);
        await using var stage = new TcpServerStage(Server(), loggerFactory: logs, timeProvider: time);
        var endPoint = await stage.StartAsync();
        Assert.True(await AcceptedAsync(stage, endPoint, lost));

        // The CA publishes a list that revokes the lost terminal: the next handshake a second later (stage clock) obeys it.
        // Before the fix the list was read at the start only, and the lost terminal was served until a restart.
        await File.WriteAllTextAsync(CrlFile, CertificateMaker.CreateRevocationList(TestCertificates.Authority, [lost], empty, now.AddDays(7)));
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
        await File.WriteAllTextAsync(CrlFile, CertificateMaker.CreateRevocationList(TestCertificates.Authority, [], null, nextUpdate));
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
        await File.WriteAllTextAsync(CrlFile, CertificateMaker.CreateRevocationList(TestCertificates.Authority, [], null, now.AddDays(7)));
        time.Advance(TimeSpan.FromSeconds(2));
        Assert.True(await AcceptedAsync(stage, endPoint, TestCertificates.Client));
    }

    [OpenSslTheory]
    [InlineData("-tls1_3")]
    [InlineData("-tls1_2")]
    public async Task A_client_refused_for_an_expired_crl_is_reported_as_untrusted_and_on_epoll_told_certificate_expired(string version)
    {
        var now = DateTimeOffset.UtcNow;
        await File.WriteAllTextAsync(CrlFile, CertificateMaker.CreateRevocationList(TestCertificates.Authority, [], null, now.AddHours(1)));
        var (certificatePem, keyPem) = CertificateMaker.ToPem(TestCertificates.Client);
        var certificateFile = Path.Combine(_dir.FullName, "client.pem");
        var keyFile = Path.Combine(_dir.FullName, "client.key");
        await File.WriteAllTextAsync(certificateFile, certificatePem);
        await File.WriteAllTextAsync(keyFile, keyPem);
        var time = ClockAt(now.AddHours(2)); // already expired at the start
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
            Assert.StartsWith("untrusted (RevocationStatusUnknown): the certificate revocation list", closed.Detail);
            Assert.Contains(CrlFile, closed.Detail);
            Assert.Equal("untrusted", Ferry.Hosting.Telemetry.FerryMetrics.TlsReason(closed));
            using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            await process.WaitForExitAsync(deadline.Token);
            if (transport == StageTransport.Epoll)
                Assert.Contains("alert certificate expired", sclient.Output);
        }
        finally
        {
            process.StandardInput.Close();
            if (!process.WaitForExit(5000))
                process.Kill();
        }
    }
}
