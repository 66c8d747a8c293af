using System.Diagnostics;
using System.Text;
using Ferry.Framing;
using Ferry.Stages;
using Ferry.Tests.Support;
using Ferry.Transport;

namespace Ferry.Tests.Stages;

/// <summary>The TLS server stage against the <c>openssl s_client</c> binary (skipped, with the reason, where it is not installed).</summary>
/// <param name="serverTransport">The server stage's transport: SslStream on streams, OpenSSL on epoll.</param>
public abstract class OpenSslClientTests(StageTransport serverTransport)
{
    public sealed class OnStream() : OpenSslClientTests(StageTransport.Stream);

    public sealed class OnEpoll() : OpenSslClientTests(StageTransport.Epoll);

    internal static readonly string? OpenSsl = (Environment.GetEnvironmentVariable("PATH") ?? "")
        .Split(Path.PathSeparator).Select(dir => Path.Combine(dir, "openssl")).FirstOrDefault(File.Exists);

    [OpenSslTheory]
    [InlineData("-tls1_3", "Tls13")]
    [InlineData("-tls1_2", "Tls12")]
    public async Task Openssl_s_client_completes_the_handshake_verifies_the_server_and_exchanges_lines(string version, string expected)
    {
        await using var h = new FerryTestServer(new TcpServerStageOptions
        {
            Framing = FramingSpec.Parse("lines"),
            Tls = new TlsOptions { Secure = true, Certificate = TestCertificates.ServerCertificate },
            Transport = serverTransport,
        });
        await h.StartAsync();
        var caFile = Path.GetTempFileName();
        await File.WriteAllTextAsync(caFile, TestCertificates.AuthorityPem);
        using var sclient = SClientProcess.Start(OpenSsl!, ["s_client", "-connect", h.EndPoint.ToString(), "-servername", "localhost",
            "-CAfile", caFile, "-verify_return_error", "-brief", version]);
        var process = sclient.Process;
        try
        {
            var connected = await h.WaitForEventAsync<ConnectedEvent>();
            Assert.Equal(expected, connected.Tls!.Protocol);
            await process.StandardInput.WriteLineAsync("hello from openssl");
            await process.StandardInput.FlushAsync();
            var packets = await h.WaitForPacketsAsync(p => p.Count == 1, "the line from s_client");
            Assert.Equal("hello from openssl", Encoding.ASCII.GetString(packets[0].Payload));
            Assert.True(await h.Stage.SendAsync(connected.ConnectionId, "hello from ferry"u8.ToArray()));
            await Poll.UntilAsync(() => sclient.Output.Contains("hello from ferry"), "s_client to print the reply");
            // -brief prints the verification to stderr, read on its own thread: it may come after the reply.
            await Poll.UntilAsync(() => sclient.Output.Contains("Verification"), "s_client to print the verification", seen: () => sclient.Output);
            Assert.Contains("Verification: OK", sclient.Output);
        }
        finally
        {
            process.StandardInput.Close();
            if (!process.WaitForExit(5000))
                process.Kill();
            File.Delete(caFile);
        }
    }

    [OpenSslTheory]
    [InlineData("-tls1_2")]
    public async Task A_client_asking_to_renegotiate_is_closed_as_a_tls_error_not_a_reset(string version)
    {
        // The stream transport reported SslStream's refusal of the renegotiation as a network reset.
        await using var h = new FerryTestServer(new TcpServerStageOptions
        {
            Framing = FramingSpec.Parse("lines"),
            Tls = new TlsOptions { Secure = true, Certificate = TestCertificates.ServerCertificate },
            Transport = serverTransport,
        });
        await h.StartAsync();
        using var sclient = SClientProcess.Start(OpenSsl!, ["s_client", "-connect", h.EndPoint.ToString(), "-servername", "localhost", version]);
        var process = sclient.Process;
        try
        {
            await h.WaitForEventAsync<ConnectedEvent>();
            await process.StandardInput.WriteLineAsync("R"); // s_client's command: renegotiate
            await process.StandardInput.FlushAsync();
            var closed = await h.WaitForEventAsync<DisconnectedEvent>();
            Assert.Equal(Ferry.Connections.DisconnectReason.TlsError, closed.Reason);
            Assert.Equal(0, h.Stage.GetStats().TlsFailuresTotal); // after the handshake: a close reason, not a failed handshake
        }
        finally
        {
            process.StandardInput.Close();
            if (!process.WaitForExit(5000))
                process.Kill();
        }
    }
}

/// <summary>A theory reported as skipped, with the reason, when the openssl binary is missing; never as passed.</summary>
public sealed class OpenSslTheoryAttribute : TheoryAttribute
{
    public OpenSslTheoryAttribute()
    {
        if (OpenSslClientTests.OpenSsl is null)
            Skip = "openssl is not installed (apt-get install openssl)";
    }
}
