using System.Buffers;
using System.Net.Sockets;
using Ferry.Bridge;
using Ferry.Bridge.Zmtp;
using Ferry.Testing;
using Ferry.Tests.Support;

namespace Ferry.Tests.Bridge;

/// <summary>
/// A ZMTP PULL peer, with a small receive buffer, that completes the handshake and then never reads; with
/// <see cref="FillUntilBlockedAsync"/> it holds a bridge end's stop draining (the stop tests, the hosted health check's).
/// </summary>
internal sealed class StalledPeer : IDisposable
{
    private readonly Socket _socket;

    private StalledPeer(Socket socket) => _socket = socket;

    public static async Task<StalledPeer> ConnectAsync(int port)
    {
        using var deadline = new CancellationTokenSource(Poll.DefaultTimeout);
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { ReceiveBufferSize = 4096 };
        var peer = new StalledPeer(socket);
        await socket.ConnectAsync("127.0.0.1", port, deadline.Token);
        var greeting = new ArrayBufferWriter<byte>();
        ZmtpGreeting.Write(greeting);
        await socket.SendAsync(greeting.WrittenMemory, deadline.Token);
        await peer.ReceiveExactlyAsync(ZmtpGreeting.Length, deadline.Token);
        var ready = new ArrayBufferWriter<byte>();
        ZmtpCommand.WriteReady(ready, ZmtpSocketType.Pull);
        await socket.SendAsync(ready.WrittenMemory, deadline.Token);
        // The server's READY: a short command frame (flags, one length byte, the body).
        var header = await peer.ReceiveExactlyAsync(2, deadline.Token);
        Assert.True((header[0] & 0x04) != 0, "the server's answer should be a command");
        await peer.ReceiveExactlyAsync(header[1], deadline.Token);
        return peer;
    }

    /// <summary>Reads (and drops) what is left until the server closes the connection; bounded by <see cref="Poll.DefaultTimeout"/>.</summary>
    public async Task WaitClosedAsync()
    {
        using var deadline = new CancellationTokenSource(Poll.DefaultTimeout);
        var chunk = new byte[64 * 1024];
        try
        {
            while (await _socket.ReceiveAsync(chunk, deadline.Token) > 0)
            {
            }
        }
        catch (SocketException)
        {
            // A reset is a close too.
        }
        catch (OperationCanceledException)
        {
            Assert.Fail($"the server did not close the peer's connection within {Poll.DefaultTimeout}");
        }
    }

    private Task<byte[]> ReceiveExactlyAsync(int count, CancellationToken cancellationToken) => PeerReads.ExactlyAsync(_socket, count, cancellationToken);

    public void Dispose() => _socket.Dispose();

    /// <summary>
    /// Sends frames until one waits for buffer space and still does so after the PUSH stage has run whole rounds: the peer's
    /// receive buffer, the kernel's send buffer and the end's own are full, so a stop's drain cannot finish. The waiting send
    /// is left to the stop (which fails it).
    /// </summary>
    public static async Task FillUntilBlockedAsync(FrameBridgeServer server, StageTime time, int frameBytes)
    {
        await Poll.UntilAsync(() => server.PushStage.ConnectionCount == 1 && server.Counters.Connections >= 1, "the peer's handshake");
        var frame = new Frame(new byte[frameBytes]);
        for (var sent = 0; sent < 1000; sent++)
        {
            Task send = server.SendAsync(frame).AsTask();
            if (!send.IsCompleted)
            {
                await time.SettleAsync(server.PushStage);
                // The loop may just have flushed the connection's buffer into the kernel while the waiting send's retry
                // (a continuation) has not run yet: for that moment nothing is queued and the send is still waiting. Under
                // load that moment lasts, so wait for one or the other rather than read them once.
                await Poll.UntilAsync(() => send.IsCompleted || server.PendingSendBytes > 0, "the waiting send to go through or bytes to stay queued");
                if (!send.IsCompleted)
                {
                    _ = send.ContinueWith(static t => t.Exception, TaskScheduler.Default); // fails with the stop; observed here
                    return;
                }
            }
            await send;
        }
        Assert.Fail("the peer that does not read took 1000 frames");
    }
}
