using Ferry.Transport;
using Ferry.Transport.Streams;

namespace Ferry.Tests.Transport;

/// <summary>The stream transport's readiness: one report per source per round, as epoll gives.</summary>
public sealed class PostedReadinessTests
{
    /// <summary>
    /// Always readable; the first time the readiness asks, it posts itself again, as a write completing on a
    /// pool thread does when it lands just after the readiness took the connection from its queue.
    /// </summary>
    private sealed class PostedAgainWhileAsked : PostedSource
    {
        private bool _postedAgain;

        public override ReadyFlags Poll()
        {
            if (!_postedAgain)
            {
                _postedAgain = true;
                Post();
            }
            return ReadyFlags.Readable;
        }
    }

    private static List<(long Token, ReadyFlags Flags)> Round(PostedReadiness readiness)
    {
        var n = readiness.Wait(0);
        return Enumerable.Range(0, n).Select(readiness.EventAt).ToList();
    }

    [Fact]
    public void A_source_posted_again_while_its_round_is_gathered_is_reported_once_in_it_and_again_in_the_next()
    {
        // Before: it was reported twice in the round. The stage then read the connection twice, and for a peer that had
        // shut down its side the second end of stream closed the connection while what was queued for it was still being
        // written: the rest was dropped (22528 of 524288 bytes echoed, LifecycleTests, under load).
        var readiness = new PostedReadiness();
        readiness.Register(new PostedAgainWhileAsked(), ReadyFlags.Readable, token: 7);

        Assert.Equal([(7L, ReadyFlags.Readable)], Round(readiness));
        // Still readable: level-triggered, it is reported again in the next round (the second post is not lost).
        Assert.Equal([(7L, ReadyFlags.Readable)], Round(readiness));
        readiness.Dispose();
    }
}
