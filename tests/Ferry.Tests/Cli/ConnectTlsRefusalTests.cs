using System.Security.Authentication;
using System.Text.Json;
using Ferry.Cli;
using Ferry.Framing;
using Ferry.Stages;
using Ferry.Tests.Support;
using Ferry.Transport;
using Ferry.Transport.Tls;

namespace Ferry.Tests.Cli;

/// <summary>
/// <c>ferry connect</c> and <c>ferry run</c> with a client certificate the server refuses: under TLS 1.3 (and from an SslStream
/// server under 1.2) the refusal comes after the client's handshake finished; the lines and the exit code are those of a
/// refusal inside the handshake (TLS 1.2 on epoll): failed attempts counted from 1, each a failed TLS handshake.
/// </summary>
/// <param name="serverTransport">The server stage's transport: SslStream on streams, OpenSSL on epoll.</param>
public abstract class ConnectTlsRefusalTests(StageTransport serverTransport) : IDisposable
{
    public sealed class OnStream() : ConnectTlsRefusalTests(StageTransport.Stream);

    public sealed class OnEpoll() : ConnectTlsRefusalTests(StageTransport.Epoll);

    private readonly string _dir = Directory.CreateTempSubdirectory("ferry-connect-refusal-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    /// <summary>A mutual-TLS server speaking <paramref name="protocols"/> only; the client's certificate is of another CA, and its files are written.</summary>
    private async Task<(FerryTestServer Server, string Ca, string Cert, string Key)> RefusingServerAsync(SslProtocols protocols)
    {
        var h = new FerryTestServer(new TcpServerStageOptions
        {
            Bind = "127.0.0.1:0",
            Transport = serverTransport,
            Framing = FramingSpec.Parse("lines"),
            Tls = TestCertificates.MutualTlsServer with
            {
                Protocols = protocols,
            },
        });
        await h.StartAsync();
        var (certPem, keyPem) = CertificateMaker.ToPem(TestCertificates.ClientOfOtherAuthority);
        var ca = Path.Combine(_dir, "ca.pem");
        var cert = Path.Combine(_dir, "client.pem");
        var key = Path.Combine(_dir, "client.key");
        await File.WriteAllTextAsync(ca, TestCertificates.AuthorityPem);
        await File.WriteAllTextAsync(cert, certPem);
        await File.WriteAllTextAsync(key, keyPem);
        return (h, ca, cert, key);
    }

    [Theory]
    [InlineData(SslProtocols.Tls13)]
    [InlineData(SslProtocols.Tls12)]
    public async Task Connect_reports_each_refusal_as_a_failed_tls_handshake_attempt_counted_from_1(SslProtocols protocols)
    {
        var (h, ca, cert, key) = await RefusingServerAsync(protocols);
        await using var server = h;
        using var stop = new CancellationTokenSource();
        var stdout = new LineWriter();
        var connect = Task.Run(() => FerryCommand.RunAsync(
            ["connect", $"127.0.0.1:{h.EndPoint.Port}", "--framing", "lines", "--reconnect-wait", "20ms", "--reconnect-max-wait", "50ms",
                "--tls-ca", ca, "--tls-server-name", "localhost", "--tls-cert", cert, "--tls-key", key],
            new QueueReader(), stdout, new LineWriter(), stop.Token));
        List<JsonElement> failed = [];
        await Poll.UntilAsync(() => (failed = [.. stdout.Json.Where(j => LineWriter.Is(j, "connect_failed"))]).Count >= 3, "three failed attempts",
            seen: () => string.Join(Environment.NewLine, stdout.Lines));
        stop.Cancel();
        Assert.Equal(0, await connect.WaitAsync(TimeSpan.FromSeconds(15)));

        // Before (TLS 1.3, or any version from an SslStream server): attempt 0 each time, "connection to … ended (tls_error: …)"
        // or "(remote_closed)", for ever.
        Assert.Equal([1, 2, 3], failed.Take(3).Select(j => j.GetProperty("attempt").GetInt32()));
        Assert.All(failed, j => Assert.StartsWith($"TLS handshake with 127.0.0.1:{h.EndPoint.Port} failed: tls handshake failed: ",
            j.GetProperty("reason").GetString()));
        var closes = stdout.Json.Where(j => LineWriter.Is(j, "disconnected")).ToList();
        Assert.NotEmpty(closes);
        Assert.All(closes, j => Assert.Equal("tls_error", j.GetProperty("reason").GetString()));
    }

    [Fact]
    public async Task Run_stops_with_exit_1_when_a_tls13_client_stage_refused_after_its_handshake_uses_up_its_attempts()
    {
        var (h, ca, cert, key) = await RefusingServerAsync(SslProtocols.Tls13);
        await using var server = h;
        var file = Path.Combine(_dir, "upstream.yaml");
        await File.WriteAllTextAsync(file, $$$"""
            stages:
              - name: upstream
                type: tcp_client
                config:
                  host: 127.0.0.1
                  port: {{{h.EndPoint.Port}}}
                  reconnect_wait: 10ms
                  reconnect_max_wait: 20ms
                  reconnect_attempts: 3
                  tls: {secure: true, server_name: localhost, ca_certificate_file: "{{{ca}}}", certificate: {certificate_file: "{{{cert}}}", private_key_file: "{{{key}}}"}}
            """);

        await using var run = RunningCommand.Start(null, "run", file);
        var code = await run.Exit.WaitAsync(TimeSpan.FromSeconds(30)); // before, the run went on for ever
        Assert.Equal(1, code);
        var error = Assert.Single(run.Err.Lines, l => l.StartsWith("ferry run:", StringComparison.Ordinal));
        Assert.Contains($"stage 'upstream' gave up connecting to 127.0.0.1:{h.EndPoint.Port} after 3 attempts (reconnect_attempts): "
            + $"TLS handshake with 127.0.0.1:{h.EndPoint.Port} failed: tls handshake failed: ", error);
    }
}
