using System.Security.Cryptography.X509Certificates;
using Ferry.Framing;
using Ferry.Stages;
using Ferry.Testing;
using Ferry.Tests.Bridge;
using Ferry.Tests.Support;
using Ferry.Transport;
using Ferry.Transport.Tls;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Time.Testing;

namespace Ferry.Tests.Stages;

/// <summary>
/// Certificate files rotated under a running server stage the way operators and tools do it: one file at a time,
/// or caught half-written. The stage must keep serving the certificate it has until the new pair is whole, and say so.
/// </summary>
public abstract class TlsCertificateRotationTests(StageTransport transport) : IDisposable
{
    public sealed class OnStream() : TlsCertificateRotationTests(StageTransport.Stream);

    public sealed class OnEpoll() : TlsCertificateRotationTests(StageTransport.Epoll);

    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("ferry-rotation-");

    public void Dispose() => _dir.Delete(recursive: true);

    private string CertFile => Path.Combine(_dir.FullName, "server.pem");

    private string KeyFile => Path.Combine(_dir.FullName, "server.key");

    private static X509Certificate2 Make(DateTimeOffset now, int days)
        => CertificateMaker.CreateServer(TestCertificates.Authority, ["localhost"], now.AddMinutes(-5), now.AddDays(days));

    private TcpServerStageOptions Server() => new()
    {
        Bind = "127.0.0.1:0",
        Framing = FramingSpec.Parse("lines"),
        Transport = transport,
        Tls = new TlsOptions { Secure = true, Certificate = new TlsCertificate { CertificateFile = CertFile, PrivateKeyFile = KeyFile } },
    };

    private static async Task<string> ServedThumbprintAsync(System.Net.IPEndPoint endPoint)
    {
        await using var client = await FramedTestClient.ConnectAsync(endPoint, TestCertificates.TrustingClient());
        using var served = X509CertificateLoader.LoadCertificate(client.Tls!.RemoteCertificate!.GetRawCertData());
        return served.Thumbprint;
    }

    [Fact]
    public async Task A_certificate_written_before_its_key_or_half_written_keeps_the_old_one_in_service_and_says_so()
    {
        var now = DateTimeOffset.UtcNow;
        var first = Make(now, 1);
        var second = Make(now, 2);
        var (firstCert, firstKey) = CertificateMaker.ToPem(first);
        var (secondCert, secondKey) = CertificateMaker.ToPem(second);
        await File.WriteAllTextAsync(CertFile, firstCert);
        await File.WriteAllTextAsync(KeyFile, firstKey);
        var time = new FakeTimeProvider(now);
        var logs = new CapturingLoggerFactory(LogLevel.Information, timestamps: false);
        await using var stage = new TcpServerStage(Server(), loggerFactory: logs, timeProvider: time);
        var endPoint = await stage.StartAsync();
        await using var before = await FramedTestClient.ConnectAsync(endPoint, TestCertificates.TrustingClient());

        // The new certificate is in place, its key not yet: a pair that does not match. Before the fix this escaped the
        // reload as an ArgumentException: on epoll the service loop died with it, on streams every handshake failed.
        await File.WriteAllTextAsync(CertFile, secondCert);
        time.Advance(TimeSpan.FromSeconds(2)); // the files are looked at once a second on the stage clock
        Assert.Equal(first.Thumbprint, await ServedThumbprintAsync(endPoint));
        var kept = Assert.Single(logs.All, l => l.Contains("cannot be used", StringComparison.Ordinal));
        Assert.StartsWith("Warning ", kept);
        Assert.Contains("does not match", kept);
        Assert.Contains(first.Thumbprint, kept); // which certificate stays
        Assert.Contains(CertFile, kept);

        // Looked at again a second later, unchanged: not told again.
        time.Advance(TimeSpan.FromSeconds(2));
        Assert.Equal(first.Thumbprint, await ServedThumbprintAsync(endPoint));
        Assert.Single(logs.All, l => l.Contains("cannot be used", StringComparison.Ordinal));

        // The key written halfway: still the old one, told again (the files changed).
        await File.WriteAllTextAsync(KeyFile, secondKey[..(secondKey.Length / 2)]);
        time.Advance(TimeSpan.FromSeconds(2));
        Assert.Equal(first.Thumbprint, await ServedThumbprintAsync(endPoint));
        Assert.Equal(2, logs.All.Count(l => l.Contains("cannot be used", StringComparison.Ordinal)));

        // The pair whole: new handshakes get it, and that is told.
        await File.WriteAllTextAsync(KeyFile, secondKey);
        time.Advance(TimeSpan.FromSeconds(2));
        Assert.Equal(second.Thumbprint, await ServedThumbprintAsync(endPoint));
        var reloaded = Assert.Single(logs.All, l => l.Contains("tls certificate reloaded", StringComparison.Ordinal));
        Assert.StartsWith("Information ", reloaded);
        Assert.Contains(second.Thumbprint, reloaded);

        // The connection made before any of it still works.
        await before.SendAsync("still here\n"u8.ToArray());
        await Poll.UntilAsync(() => stage.GetStats().PacketsReceivedTotal == 1, "the old connection's line");
    }

    [Fact]
    public async Task A_secret_rotated_by_swapping_a_directory_link_is_taken_as_kubernetes_does_it()
    {
        // The layout of a Kubernetes secret volume: tls.crt -> ..data/tls.crt, ..data -> ..v1; an update writes ..v2 and
        // re-points ..data. The paths the stage was given are links that never change. Before the fix the stage looked at
        // the links' own write times and kept serving the first certificate for good.
        var now = DateTimeOffset.UtcNow;
        var first = Make(now, 1);
        var second = Make(now, 2);
        foreach (var (version, certificate) in new[] { ("..v1", first), ("..v2", second) })
        {
            var (cert, key) = CertificateMaker.ToPem(certificate);
            Directory.CreateDirectory(Path.Combine(_dir.FullName, version));
            await File.WriteAllTextAsync(Path.Combine(_dir.FullName, version, "tls.crt"), cert);
            await File.WriteAllTextAsync(Path.Combine(_dir.FullName, version, "tls.key"), key);
        }
        var data = Path.Combine(_dir.FullName, "..data");
        Directory.CreateSymbolicLink(data, "..v1");
        File.CreateSymbolicLink(CertFile, Path.Combine("..data", "tls.crt"));
        File.CreateSymbolicLink(KeyFile, Path.Combine("..data", "tls.key"));
        var time = new FakeTimeProvider(now);
        await using var stage = new TcpServerStage(Server(), timeProvider: time);
        var endPoint = await stage.StartAsync();
        Assert.Equal(first.Thumbprint, await ServedThumbprintAsync(endPoint));

        Directory.Delete(data); // the link, not ..v1
        Directory.CreateSymbolicLink(data, "..v2");
        time.Advance(TimeSpan.FromSeconds(2));
        Assert.Equal(second.Thumbprint, await ServedThumbprintAsync(endPoint));
    }

    [Fact]
    public async Task A_client_stage_presents_its_rotated_client_certificate_at_its_next_dial()
    {
        // Before the fix a client stage read its certificate once: a rotated client certificate was never presented
        // until the process restarted (and the old one, once expired, was refused at every reconnect).
        var now = DateTimeOffset.UtcNow;
        var first = CertificateMaker.CreateClient(TestCertificates.Authority, "terminal-old", now.AddMinutes(-5), now.AddDays(1));
        var second = CertificateMaker.CreateClient(TestCertificates.Authority, "terminal-new", now.AddMinutes(-5), now.AddDays(2));
        var (firstCert, firstKey) = CertificateMaker.ToPem(first);
        var (secondCert, secondKey) = CertificateMaker.ToPem(second);
        await File.WriteAllTextAsync(CertFile, firstCert);
        await File.WriteAllTextAsync(KeyFile, firstKey);
        await using var h = new FerryTestServer(new TcpServerStageOptions
        {
            Bind = "127.0.0.1:0",
            Framing = FramingSpec.Parse("lines"),
            Transport = transport,
            Tls = TestCertificates.MutualTlsServer,
        });
        await h.StartAsync();
        var time = new FakeTimeProvider(now);
        await using var client = new TcpClientStage(new TcpClientStageOptions
        {
            Connect = $"127.0.0.1:{h.EndPoint.Port}",
            Framing = FramingSpec.Parse("lines"),
            ReconnectJitter = 0,
            Tls = new TlsOptions
            {
                Secure = true,
                ServerName = "localhost",
                CaCertificatePem = TestCertificates.AuthorityPem,
                Certificate = new TlsCertificate { CertificateFile = CertFile, PrivateKeyFile = KeyFile },
            },
        }, timeProvider: time);
        await client.ConnectAsync(new CancellationTokenSource(TimeSpan.FromSeconds(10)).Token);
        var connected = await h.WaitForEventAsync<ConnectedEvent>();
        Assert.Equal("CN=terminal-old", connected.Tls!.PeerCertificateSubject);

        await File.WriteAllTextAsync(CertFile, secondCert);
        await File.WriteAllTextAsync(KeyFile, secondKey);
        time.Advance(TimeSpan.FromSeconds(2)); // the files are looked at once a second on the client stage's clock
        Assert.True(h.Stage.Close(connected.ConnectionId));
        // The client stage dials again after its reconnect wait (1 s on its fake clock).
        await Poll.UntilAsync(() =>
        {
            time.Advance(TimeSpan.FromMilliseconds(200));
            return h.Events.OfType<ConnectedEvent>().Count() == 2;
        }, "the client stage to connect again");
        var again = h.Events.OfType<ConnectedEvent>().Last();
        Assert.Equal("CN=terminal-new", again.Tls!.PeerCertificateSubject);
        Assert.Equal(second.Thumbprint, again.Tls.PeerCertificateThumbprint);
    }

    [Fact]
    public async Task A_key_that_does_not_match_the_certificate_is_an_options_error_that_says_so()
    {
        var now = DateTimeOffset.UtcNow;
        var (cert, _) = CertificateMaker.ToPem(Make(now, 1));
        var (_, otherKey) = CertificateMaker.ToPem(Make(now, 1));
        await File.WriteAllTextAsync(CertFile, cert);
        await File.WriteAllTextAsync(KeyFile, otherKey);

        // Before the fix the runtime's ArgumentException came out of the constructor, not the options error every other bad file is.
        var error = Assert.Throws<StageOptionsException>(() => new TcpServerStage(Server()));
        Assert.Contains("does not match the certificate (subject CN=localhost)", error.Message);
    }
}
