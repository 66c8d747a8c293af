using System.Net.Security;
using System.Net.Sockets;
using System.Text;
using Ferry.Framing;
using Ferry.Stages;
using Ferry.Testing;
using Ferry.Tests.Support;
using Ferry.Transport;

namespace Ferry.Tests.Stages;

/// <summary>
/// A connection the stage closes gracefully while its peer is still sending and has not read its answers yet. Closing a
/// socket with bytes unread in its receive queue makes the kernel send a reset, which throws away the answers still in
/// the stage's send queue and tells the peer ECONNRESET; the graceful close sends what it owes, then the FIN, and
/// discards the peer's bytes until its EOF before it closes, so the peer reads every answer and then the end.
/// </summary>
public abstract class GracefulCloseTests(StageTransport transport)
{
    public sealed class OnStream() : GracefulCloseTests(StageTransport.Stream);

    public sealed class OnEpoll() : GracefulCloseTests(StageTransport.Epoll);

    private const int Answers = 256;
    private const int AnswerBytes = 1024;

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_peer_that_keeps_sending_and_reads_late_gets_every_answer_and_then_the_end(bool secure)
    {
        await using var h = new FerryTestServer(new TcpServerStageOptions
        {
            Bind = "127.0.0.1:0",
            Transport = transport,
            Framing = FramingSpec.Parse("lines"),
            Tls = secure ? new TlsOptions { Secure = true, Certificate = TestCertificates.ServerCertificate } : null,
        }, recordPackets: false);
        await h.StartAsync();
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        // A small receive window: most of the answers wait in the stage's send queue, which a reset throws away.
        socket.ReceiveBufferSize = 16 * 1024;
        await socket.ConnectAsync(h.EndPoint);
        Stream stream = new NetworkStream(socket, ownsSocket: false);
        if (secure)
        {
            var ssl = new SslStream(stream, leaveInnerStreamOpen: false, (_, _, _, _) => true);
            await ssl.AuthenticateAsClientAsync("localhost");
            stream = ssl;
        }
        await stream.WriteAsync("hello\n"u8.ToArray());
        var connected = await h.WaitForEventAsync<ConnectedEvent>();

        // The answers, all handed to the kernel before the close.
        var answer = Encoding.ASCII.GetBytes(new string('a', AnswerBytes - 1) + "\n");
        for (var i = 0; i < Answers; i++)
            Assert.True(await h.Stage.SendAsync(connected.ConnectionId, answer.AsMemory(0, AnswerBytes - 1)));
        await Poll.UntilAsync(() => h.Stage.GetStats().BytesSentTotal >= (long)Answers * AnswerBytes, "the answers handed to the kernel");

        // The peer keeps sending while the stage closes and after: bytes the stage never reads, in its receive queue at the
        // close or arriving after it (either makes a closed socket's kernel answer with a reset).
        var received = h.Stage.GetStats().BytesReceivedTotal;
        var sent = 0L;
        var stop = false;
        var sending = Task.Run(async () =>
        {
            var line = Encoding.ASCII.GetBytes(new string('x', 999) + "\n");
            try
            {
                while (!Volatile.Read(ref stop))
                {
                    await stream.WriteAsync(line);
                    Interlocked.Add(ref sent, line.Length);
                }
            }
            catch (IOException)
            {
                // Reset by the stage (the old close): the read below says what was lost.
            }
        });
        await Poll.UntilAsync(() => h.Stage.GetStats().BytesReceivedTotal > received + 64 * 1024, "the peer's bytes arriving");
        Assert.True(h.Stage.Close(connected.ConnectionId));
        await h.WaitForDisconnectAsync(connected.ConnectionId);
        // Half a megabyte more after the close (the stage discards it), unless the close reset the connection.
        var atClose = Interlocked.Read(ref sent);
        await Poll.UntilAsync(() => sending.IsCompleted || Interlocked.Read(ref sent) > atClose + 512 * 1024, "the peer's bytes after the close");
        Volatile.Write(ref stop, true);
        await sending.WaitAsync(TimeSpan.FromSeconds(20));

        // Late, the peer reads: every answer, then the end (not ECONNRESET).
        var total = 0L;
        var buffer = new byte[64 * 1024];
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        while (true)
        {
            var n = await stream.ReadAsync(buffer, deadline.Token);
            if (n == 0)
                break;
            total += n;
        }
        Assert.Equal((long)Answers * AnswerBytes, total);
        socket.Close(); // the stage's lingering close sees the end and lets go of the descriptor
    }
}
