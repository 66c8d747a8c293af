using Ferry.Connections;
using Ferry.Framing;
using Ferry.Stages;
using Ferry.Tests.Stages;
using Ferry.Tests.Support;
using Ferry.Transport;

namespace Ferry.Tests.Transport;

/// <summary>
/// The stream transport (SslStream) ends a session with close_notify however the stage closes it gracefully: here
/// an idle timeout, on the stage's fake clock. It disposed the SslStream without <c>ShutdownAsync</c>, so an OpenSSL
/// client read the close as "unexpected EOF".
/// </summary>
public sealed class Tls2StreamCloseNotifyTests
{
    [OpenSslTheory]
    [InlineData("-tls1_3")]
    [InlineData("-tls1_2")]
    public async Task An_idle_timeout_on_the_stream_transport_ends_the_tls_session_with_close_notify(string version)
    {
        var time = new StageTime();
        var idle = TimeSpan.FromSeconds(30);
        await using var h = new FerryTestServer(new TcpServerStageOptions
        {
            Bind = "127.0.0.1:0",
            Transport = StageTransport.Stream,
            Framing = FramingSpec.Parse("lines"),
            IdleTimeout = idle,
            Tls = new TlsOptions { Secure = true, Certificate = TestCertificates.ServerCertificate },
        }, time: time);
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
            time.Advance(idle + TimeSpan.FromSeconds(1));
            var closed = await h.WaitForDisconnectAsync(connected.ConnectionId);
            Assert.Equal(DisconnectReason.IdleTimeout, closed.Reason);
            using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            await process.WaitForExitAsync(deadline.Token); // s_client ends when the connection does
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
