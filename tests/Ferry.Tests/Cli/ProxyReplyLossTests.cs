using System.Collections.Concurrent;
using Ferry.Cli.Pipeline;
using Microsoft.Extensions.Time.Testing;

namespace Ferry.Tests.Cli;

/// <summary>
/// A proxy's reply losses are told at most once a second, but none is left out: what comes within the second after a
/// line is told with its reasons and the totals once the second is over, or when the run stops (an upstream restart
/// loses its requests in flight, then every request until it is back, all within one second).
/// </summary>
public sealed class ProxyReplyLossTests
{
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero));
    private readonly ConcurrentQueue<string> _lines = new();

    private ReplyLoss Loss() => new("back", "front", _lines.Enqueue, _time);

    [Fact]
    public void Losses_within_the_second_after_a_line_are_told_with_their_reasons_and_totals_when_the_second_is_over()
    {
        var loss = Loss();
        loss.Unanswer(25, "'back' lost its connection (reset) with requests in flight");
        _time.Advance(TimeSpan.FromMilliseconds(10));
        loss.Unanswer(1, "'back' is not connected; the request was not sent");
        loss.Unanswer(1, "'back' is not connected; the request was not sent");
        loss.Unmatch();
        Assert.Equal(["reply back -> front: 'back' lost its connection (reset) with requests in flight (so far: 25 requests without an answer, 0 answers dropped)"], _lines);

        _time.Advance(TimeSpan.FromMilliseconds(989));
        Assert.Single(_lines);
        _time.Advance(TimeSpan.FromMilliseconds(1));
        Assert.Equal(
        [
            "reply back -> front: 'back' lost its connection (reset) with requests in flight (so far: 25 requests without an answer, 0 answers dropped)",
            "reply back -> front: 'back' is not connected; the request was not sent; and an answer from 'back' came with no request of 'front' waiting on that connection; "
                + "it was dropped (so far: 27 requests without an answer, 1 answers dropped)",
        ], _lines);

        // Told: nothing more comes by itself; a loss a second later is told at once.
        _time.Advance(TimeSpan.FromSeconds(5));
        Assert.Equal(2, _lines.Count);
        loss.Unanswer(1, "'back' is not connected; the request was not sent");
        Assert.Equal("reply back -> front: 'back' is not connected; the request was not sent (so far: 28 requests without an answer, 1 answers dropped)", _lines.Last());
    }

    [Fact]
    public void A_stop_within_the_second_tells_what_was_held_back_at_once_and_only_once()
    {
        var loss = Loss();
        loss.Unanswer(1, "'back' is not connected; the request was not sent");
        loss.Unanswer(3, "'back' lost its connection (server_stopping) with requests in flight");
        loss.Flush();
        Assert.Equal("reply back -> front: 'back' lost its connection (server_stopping) with requests in flight (so far: 4 requests without an answer, 0 answers dropped)", _lines.Last());
        Assert.Equal(2, _lines.Count);
        _time.Advance(TimeSpan.FromSeconds(2));
        loss.Flush();
        Assert.Equal(2, _lines.Count);
    }
}
