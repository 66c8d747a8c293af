using System.Threading.Channels;
using Ferry.Bus;

namespace Ferry.Tests.Bus;

/// <summary>
/// A queue subscription's reader owns the message it was last given: a dispose from another thread releases
/// what is queued, never that message (review S3: its storage went back to the pool while the reader still
/// read its spans, and two threads releasing it at once released it twice).
/// </summary>
public sealed class QueueSubscriptionTests
{
    /// <summary>A pooled message that counts its holds; the publisher's own hold is the first.</summary>
    private sealed class Counted : IRetainable
    {
        private int _holds = 1;
        private int _releases;

        public int Releases => Volatile.Read(ref _releases);

        public void Retain() => Interlocked.Increment(ref _holds);

        public void Release()
        {
            Interlocked.Increment(ref _releases);
            if (Interlocked.Decrement(ref _holds) < 0)
                throw new InvalidOperationException("released more often than retained");
        }
    }

    [Fact]
    public async Task A_dispose_from_another_thread_leaves_the_message_the_reader_holds_to_the_reader()
    {
        var topic = new InProcessBus().Topic<Counted>("t");
        var queue = topic.SubscribeQueue(capacity: 4);
        Counted first = new(), second = new();
        await topic.PublishAsync(first);
        await topic.PublishAsync(second);

        Assert.Same(first, await queue.ReadAsync());
        await Task.Run(queue.Dispose); // while the reader is still looking at `first`
        Assert.Equal(0, first.Releases); // before the fix: released here, under the reader's feet
        Assert.Equal(1, second.Releases); // what was still queued goes at once

        // The reader's next call releases what it held, once, and finds the subscription closed.
        await Assert.ThrowsAsync<ChannelClosedException>(() => queue.ReadAsync().AsTask());
        Assert.Equal(1, first.Releases);
        Assert.False(queue.TryRead(out _));
        Assert.Equal(1, first.Releases);
    }

    [Fact]
    public async Task A_reading_loop_keeps_its_message_through_a_dispose_from_another_thread_and_releases_it_when_it_ends()
    {
        var topic = new InProcessBus().Topic<Counted>("t");
        var queue = topic.SubscribeQueue(capacity: 4);
        var only = new Counted();
        await topic.PublishAsync(only);
        var seen = 0;
        await foreach (var message in queue)
        {
            seen++;
            await Task.Run(queue.Dispose);
            Assert.Equal(0, message.Releases);
        }
        Assert.Equal(1, seen);
        Assert.Equal(1, only.Releases);
    }
}
