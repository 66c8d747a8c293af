using Ferry.Connections;
using Ferry.Framing;
using Ferry.Stages;
using Ferry.Tests.Support;
using Ferry.Transport;
using Ferry.Transport.Tls;

namespace Ferry.Tests.Stages;

/// <summary>
/// What a refused mTLS client sees on the stream transport (SslStream) with the .NET 10 runtime on Linux: the handshake
/// finishes (the stage's check runs in <c>RemoteCertificateValidationCallback</c>, which SslStream calls only after
/// OpenSSL's <c>SSL_do_handshake</c> succeeded) and the connection then ends with no TLS alert, because SslStream's alert
/// path is a no-op on Unix. The stage's side (detail, event, stats) is the same as on epoll.
/// </summary>
/// <remarks>
/// A tripwire: a runtime that validates inside the handshake (dotnet/runtime pull request 115996) would send an alert and
/// fail this test; README's mutual TLS section then has to say which alert the stream transport sends.
/// </remarks>
public sealed class Tls3StreamRefusalAlertTests : IDisposable
{
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("ferry-tls3-alert-");

    public void Dispose() => _dir.Delete(recursive: true);

    [OpenSslTheory]
    [InlineData("-tls1_3")]
    [InlineData("-tls1_2")]
    public async Task A_revoked_client_on_the_stream_transport_sees_its_handshake_finish_and_the_connection_end_without_an_alert(string version)
    {
        var now = DateTimeOffset.UtcNow;
        using var lost = CertificateMaker.CreateClient(TestCertificates.Authority, "lost-terminal", now.AddMinutes(-5), now.AddDays(1));
        var (certificatePem, keyPem) = CertificateMaker.ToPem(lost);
        var certificateFile = Path.Combine(_dir.FullName, "client.pem");
        var keyFile = Path.Combine(_dir.FullName, "client.key");
        await File.WriteAllTextAsync(certificateFile, certificatePem);
        await File.WriteAllTextAsync(keyFile, keyPem);
        await using var h = new FerryTestServer(new TcpServerStageOptions
        {
            Bind = "127.0.0.1:0",
            Transport = StageTransport.Stream,
            Framing = FramingSpec.Parse("lines"),
            Tls = TestCertificates.MutualTlsServer with
            {
                CertificateRevocationListPem = CertificateMaker.CreateRevocationList(TestCertificates.Authority, [lost], null, now.AddDays(1)),
            },
        });
        await h.StartAsync();
        using var sclient = SClientProcess.Start(OpenSslClientTests.OpenSsl!,
            ["s_client", "-connect", h.EndPoint.ToString(), "-servername", "localhost", version, "-cert", certificateFile, "-key", keyFile]);
        var process = sclient.Process;
        try
        {
            await process.StandardInput.WriteLineAsync("hello");
            await process.StandardInput.FlushAsync();
            var closed = await h.WaitForEventAsync<DisconnectedEvent>();
            Assert.Equal(DisconnectReason.TlsError, closed.Reason);
            Assert.StartsWith("revoked", closed.Detail);
            using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            await process.WaitForExitAsync(deadline.Token);
            // The server's Finished came (the client printed its session), and no alert followed it.
            Assert.Contains("SSL handshake has read", sclient.Output);
            Assert.DoesNotContain("alert", sclient.Output, StringComparison.OrdinalIgnoreCase);
        }
        finally
        {
            process.StandardInput.Close();
            if (!process.WaitForExit(5000))
                process.Kill();
        }
    }
}
