using System.Diagnostics;
using Ferry.Bridge;
using Ferry.Tests.Support;

namespace Ferry.Tests.Bridge;

public sealed class BackpressureTests
{
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(60);

    [Theory]
    [InlineData(true, false)]
    [InlineData(false, false)]
    [InlineData(true, true)]
    [InlineData(false, true)]
    public async Task A_receiver_that_stops_reading_makes_the_sender_wait_with_bounded_memory_and_loses_nothing(bool clientSends, bool boundByBytes)
    {
        const int highWaterMark = 16;
        const int frameBytes = 16 * 1024;
        const int sendBufferBytes = 64 * 1024; // four frames per PUSH connection
        const int total = 3000; // 48 MiB: far more than queues and socket buffers can hold
        int port = FreePorts.Pair();
        CancellationToken deadline = Deadline.In(Limit);
        // The receive buffer is bounded by frames (ZMQ_RCVHWM) or, with many frames allowed, by their bytes.
        var options = boundByBytes
            ? new FrameBridgeOptions { SendBufferBytes = sendBufferBytes, ReceiveHighWaterMark = 100_000, ReceiveBufferBytes = highWaterMark * frameBytes }
            : new FrameBridgeOptions { SendBufferBytes = sendBufferBytes, ReceiveHighWaterMark = highWaterMark };
        await using var server = new FrameBridgeServer("127.0.0.1", port, options);
        await using var client = new FrameBridgeClient("127.0.0.1", port, options);
        await client.WaitReadyAsync(deadline);
        await server.WaitReadyAsync(deadline);
        IFrameBridge sender = clientSends ? client : server;
        IFrameBridge receiver = clientSends ? server : client;

        int accepted = 0;
        Task sending = Task.Run(async () =>
        {
            for (int i = 0; i < total; i++)
            {
                byte[] payload = new byte[frameBytes];
                BitConverter.TryWriteBytes(payload, i);
                await sender.SendAsync(new Frame(payload, (ushort)i, (byte)i, (byte)(i >> 8)), deadline);
                Volatile.Write(ref accepted, i + 1);
            }
        });

        // Wait until the sender has stalled: its queue is full and no send completed for half a second
        // (judged between two samples, so a late timer cannot end the wait early).
        var stable = Stopwatch.StartNew();
        int seen = -1;
        while (true)
        {
            await Task.Delay(20, deadline);
            int now = Volatile.Read(ref accepted);
            bool stalled = now == seen && now >= highWaterMark && sender.PendingSendBytes > 0;
            if (!stalled)
            {
                seen = now;
                stable.Restart();
            }
            else if (stable.ElapsedMilliseconds >= 500)
            {
                break;
            }
        }

        Assert.False(sending.IsCompleted, "SendAsync must be pending while the receiver does not read");
        Assert.InRange(sender.PendingSendBytes, 1, sendBufferBytes);
        // Accepted = sender queue + frames on the wire (socket buffers) + receiver queue: bounded, far below total.
        Assert.InRange(seen, highWaterMark, total / 4);
        Assert.InRange(receiver.Counters.FramesReceived, 0, highWaterMark + 1);

        // Resume reading: everything arrives, in order, intact.
        int next = 0;
        await foreach (Frame frame in receiver.ReadAllAsync(deadline))
        {
            Assert.Equal(next, BitConverter.ToInt32(frame.Payload.Span));
            Assert.Equal((ushort)next, frame.Flags);
            Assert.Equal(frameBytes, frame.Payload.Length);
            if (++next == total)
                break;
        }

        await sending;
        Assert.Equal(total, sender.Counters.FramesSent);
        await Deadline.UntilAsync(() => sender.PendingSendBytes == 0, Limit, "the send buffer to drain");
    }
}
