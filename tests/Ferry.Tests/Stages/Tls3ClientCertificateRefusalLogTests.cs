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
/// A refused mTLS client as the operator sees it at the default log level: one warning (event 1036) with the peer, the
/// reason and the certificate's subject and thumbprint, rate-limited like the other per-connection warnings.
/// </summary>
public abstract class Tls3ClientCertificateRefusalLogTests(StageTransport transport)
{
    public sealed class OnStream() : Tls3ClientCertificateRefusalLogTests(StageTransport.Stream);

    public sealed class OnEpoll() : Tls3ClientCertificateRefusalLogTests(StageTransport.Epoll);

    private TcpServerStageOptions Server(string crl) => new()
    {
        Bind = "127.0.0.1:0",
        Transport = transport,
        Framing = FramingSpec.Parse("lines"),
        Tls = TestCertificates.MutualTlsServer with
        {
            CertificateRevocationListPem = crl,
        },
    };

    /// <summary>Connects with <paramref name="certificate"/> (or none) and waits until the stage has counted the refusal.</summary>
    private static async Task RefusedAsync(TcpServerStage stage, IPEndPoint endPoint, X509Certificate2? certificate)
    {
        var failures = stage.GetStats().TlsFailuresTotal;
        try
        {
            await using var client = await FramedTestClient.ConnectAsync(endPoint, TestCertificates.TrustingClient(clientCertificate: certificate));
            await client.SendAsync("hello\n");
            await Poll.UntilAsync(() => stage.GetStats().TlsFailuresTotal > failures, "the refusal");
        }
        catch (Exception ex) when (ex is AuthenticationException or IOException)
        {
        }
        await Poll.UntilAsync(() => stage.GetStats().TlsFailuresTotal > failures, "the refusal");
    }

    private static IReadOnlyList<string> Refusals(CapturingLoggerFactory logs)
        => logs.All.Where(l => l.Contains("client certificate refused", StringComparison.Ordinal)).ToList();

    [Fact]
    public async Task A_refused_client_certificate_is_a_warning_with_peer_reason_subject_and_thumbprint_rate_limited()
    {
        var now = DateTimeOffset.UtcNow;
        using var lost = CertificateMaker.CreateClient(TestCertificates.Authority, "lost-terminal", now.AddMinutes(-5), now.AddDays(1));
        var time = new StageTime();
        time.SetUtcNow(now);
        var logs = new CapturingLoggerFactory(LogLevel.Information, timestamps: false);
        await using var stage = new TcpServerStage(Server(CertificateMaker.CreateRevocationList(TestCertificates.Authority, [lost], null, now.AddDays(1))),
            loggerFactory: logs, timeProvider: time);
        var endPoint = await stage.StartAsync();

        // Before the fix the refusal was the 1003 line at debug only: nothing at information or above.
        await RefusedAsync(stage, endPoint, lost);
        await Poll.UntilAsync(() => Refusals(logs).Count == 1, "the refusal's warning");
        var line = Refusals(logs)[0];
        Assert.StartsWith("Warning ", line);
        Assert.Contains(" from 127.0.0.1:", line);
        Assert.Contains("client certificate refused: revoked;", line);
        Assert.Contains("subject CN=lost-terminal", line);
        Assert.Contains("SHA-1 " + lost.Thumbprint, line);

        await RefusedAsync(stage, endPoint, TestCertificates.ClientOfOtherAuthority);
        await Poll.UntilAsync(() => Refusals(logs).Count == 2, "the second refusal's warning");
        Assert.Contains("client certificate refused: untrusted", Refusals(logs)[1]);
        Assert.Contains("SHA-1 " + TestCertificates.ClientOfOtherAuthority.Thumbprint, Refusals(logs)[1]);

        await RefusedAsync(stage, endPoint, null);
        await Poll.UntilAsync(() => Refusals(logs).Count == 3, "the third refusal's warning");
        Assert.Contains("client certificate refused: no client certificate; subject none", Refusals(logs)[2]);

        // A flood is cut at the limiter's burst per window; the rest are counted and told when the window is over.
        for (var i = 3; i < 13; i++)
            await RefusedAsync(stage, endPoint, lost);
        await time.SettleAsync(stage);
        Assert.Equal(10, Refusals(logs).Count);
        time.Advance(TimeSpan.FromSeconds(11));
        await time.SettleAsync(stage);
        await Poll.UntilAsync(() => logs.All.Any(l => l.Contains("3 more ClientCertificateRefused warnings", StringComparison.Ordinal)), "the count of those left out");
    }

    [Fact]
    public async Task A_client_the_stage_accepts_gets_no_refusal_line()
    {
        var now = DateTimeOffset.UtcNow;
        var logs = new CapturingLoggerFactory(LogLevel.Information, timestamps: false);
        await using var stage = new TcpServerStage(Server(CertificateMaker.CreateRevocationList(TestCertificates.Authority, [], null, now.AddDays(1))), loggerFactory: logs);
        var endPoint = await stage.StartAsync();
        await using var client = await FramedTestClient.ConnectAsync(endPoint, TestCertificates.TrustingClient(clientCertificate: TestCertificates.Client));
        await client.SendAsync("hello\n");
        await Poll.UntilAsync(() => stage.GetStats().PacketsReceivedTotal == 1, "the line");
        Assert.Empty(Refusals(logs));
    }
}
