using Ferry.Bridge;
using Ferry.Testing;
using Ferry.Tests.Support;
using Ferry.Transport;

namespace Ferry.Tests.Bridge;

/// <summary>
/// What <see cref="FrameBridgeCounters.FramesReceived"/> counts, as its summary and docs/bridge.md say: a frame taken in from a
/// peer, counted as it enters the receive queue, not when the reader takes it. So the counter matches the peer's
/// <c>FramesSent</c> whatever the reader does, and shows frames arriving while the reader is slow; the frames in the queue are
/// counted and not yet read, and after a stop they can still be read until the queue is empty.
/// </summary>
public abstract class ReceivedCountTests(StageTransport transport)
{
    /// <summary>These tests on the epoll transport.</summary>
    public sealed class OnEpoll() : ReceivedCountTests(StageTransport.Epoll);

    /// <summary>These tests on the portable stream transport.</summary>
    public sealed class OnStream() : ReceivedCountTests(StageTransport.Stream);

    private const string Loopback = "127.0.0.1";

    [Fact]
    public async Task Frames_are_counted_received_as_they_are_queued_and_those_queued_at_a_stop_can_still_be_read()
    {
        const int count = 5;
        var port = FreePorts.Pair();
        var deadline = Deadline.In(TimeSpan.FromSeconds(60));
        await using var server = new FrameBridgeServer(Loopback, port, new FrameBridgeOptions { Transport = transport });
        await using var client = new FrameBridgeClient(Loopback, port, new FrameBridgeOptions { Transport = transport });
        await Task.WhenAll(server.WaitReadyAsync(deadline), client.WaitReadyAsync(deadline));

        for (var i = 0; i < count; i++)
            await client.SendAsync(new Frame(new byte[] { (byte)i, 1, 2 }), deadline);

        // Nobody has read: the frames are counted as they arrive.
        await Poll.UntilAsync(() => server.Counters.FramesReceived == count, "the frames to arrive");
        Assert.Equal(count * 3, server.Counters.BytesReceived);

        await server.StopAsync(deadline);

        // Counted once each, not again when read; the reader still gets them after the stop, then the enumeration ends.
        var read = new List<byte>();
        await foreach (var frame in server.ReadAllAsync(deadline))
            read.Add(frame.Payload.Span[0]);
        Assert.Equal([0, 1, 2, 3, 4], read);
        Assert.Equal(count, server.Counters.FramesReceived);
        Assert.False(server.TryRead(out _));
    }
}
