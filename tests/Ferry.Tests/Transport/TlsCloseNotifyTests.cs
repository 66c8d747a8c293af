using Ferry.Framing;
using Ferry.Stages;
using Ferry.Tests.Stages;
using Ferry.Tests.Support;
using Ferry.Transport;

namespace Ferry.Tests.Transport;

/// <summary>
/// Both TLS engines (OpenSSL on epoll, SslStream on streams) end a session the stage closes with close_notify, as TLS
/// requires of each side before it closes (RFC 8446 6.1): an OpenSSL 3 client (Python's ssl, curl, s_client) otherwise
/// reads the close as "unexpected EOF", which it cannot tell from a truncation by an attacker.
/// </summary>
/// <remarks>The stream transport disposed its SslStream without <c>ShutdownAsync</c>, so it closed without one.</remarks>
public sealed class TlsCloseNotifyTests
{
    [OpenSslTheory]
    [InlineData(StageTransport.Epoll, "-tls1_3")]
    [InlineData(StageTransport.Epoll, "-tls1_2")]
    [InlineData(StageTransport.Stream, "-tls1_3")]
    [InlineData(StageTransport.Stream, "-tls1_2")]
    public async Task A_connection_the_stage_closes_ends_its_tls_session_with_close_notify(StageTransport transport, string version)
    {
        await using var h = new FerryTestServer(new TcpServerStageOptions
        {
            Bind = "127.0.0.1:0",
            Transport = transport,
            Framing = FramingSpec.Parse("lines"),
            Tls = new TlsOptions { Secure = true, Certificate = TestCertificates.ServerCertificate },
        });
        await h.StartAsync();
        using var sclient = SClientProcess.Start(OpenSslClientTests.OpenSsl!, ["s_client", "-connect", h.EndPoint.ToString(),
            "-servername", "localhost", version, "-msg"]);
        var process = sclient.Process;
        try
        {
            await process.StandardInput.WriteLineAsync("hello");
            await process.StandardInput.FlushAsync();
            await h.WaitForPacketsAsync(p => p.Count == 1, "the client's line");
            var connected = await h.WaitForConnectionAsync();
            Assert.True(h.Stage.Close(connected.ConnectionId));
            using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            await process.WaitForExitAsync(deadline.Token); // s_client ends when the connection does
            // "<<<" is what s_client received; before the fix only its own close_notify (">>>") could appear.
            Assert.Contains(sclient.Output.Split('\n'), line => line.StartsWith("<<<", StringComparison.Ordinal) && line.Contains("close_notify"));
        }
        finally
        {
            process.StandardInput.Close();
            if (!process.WaitForExit(5000))
                process.Kill();
        }
    }
}
