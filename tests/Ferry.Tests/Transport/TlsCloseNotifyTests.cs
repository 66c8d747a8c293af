using Ferry.Connections;
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
        => await AssertClosedWithCloseNotifyAsync(transport, version, null, null, (h, connection) =>
        {
            Assert.True(h.Stage.Close(connection));
            return Task.CompletedTask;
        });

    /// <summary>However the stage closes gracefully: here an idle timeout, on the stage's fake clock.</summary>
    [OpenSslTheory]
    [InlineData("-tls1_3")]
    [InlineData("-tls1_2")]
    public async Task An_idle_timeout_on_the_stream_transport_ends_the_tls_session_with_close_notify(string version)
    {
        var time = new StageTime();
        var idle = TimeSpan.FromSeconds(30);
        await AssertClosedWithCloseNotifyAsync(StageTransport.Stream, version, idle, time, async (h, connection) =>
        {
            time.Advance(idle + TimeSpan.FromSeconds(1));
            var closed = await h.WaitForDisconnectAsync(connection);
            Assert.Equal(DisconnectReason.IdleTimeout, closed.Reason);
        });
    }

    /// <summary>
    /// An s_client connection that sends a line, closed by <paramref name="close"/>; what s_client received ("&lt;&lt;&lt;" in its
    /// -msg output; before the fix only its own close_notify, "&gt;&gt;&gt;", could appear) must hold a close_notify.
    /// </summary>
    private static async Task AssertClosedWithCloseNotifyAsync(StageTransport transport, string version, TimeSpan? idleTimeout, StageTime? time,
        Func<FerryTestServer, ConnectionId, Task> close)
    {
        await using var h = new FerryTestServer(new TcpServerStageOptions
        {
            Bind = "127.0.0.1:0",
            Transport = transport,
            Framing = FramingSpec.Parse("lines"),
            IdleTimeout = idleTimeout ?? TimeSpan.Zero,
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
            await close(h, connected.ConnectionId);
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
