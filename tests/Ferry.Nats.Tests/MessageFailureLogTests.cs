using Ferry.Nats.Internal;
using Ferry.Tests.Bridge;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Time.Testing;

namespace Ferry.Nats.Tests;

/// <summary>Messages that fail over and over are said at error level at most once per interval, with the count left unsaid.</summary>
public sealed class MessageFailureLogTests
{
    [Fact]
    public void The_first_failure_is_said_at_once_and_later_ones_at_most_once_per_interval_with_how_many_were_not()
    {
        var time = new FakeTimeProvider();
        var logs = new CapturingLoggerFactory(LogLevel.Trace, timestamps: false);
        var log = new MessageFailureLog(logs.CreateLogger("test"), "pos", time);
        var error = new InvalidOperationException("broken");

        log.Failed("egress message", "ferry.pos.out", error, "lost");
        Assert.Equal("Error test: stage pos: egress message on ferry.pos.out failed (InvalidOperationException: broken); it is lost; the gateway goes on with the next message (0 more failure(s) since the last such line, which are said at most once per 10 s)",
            Assert.Single(logs.All));

        for (var i = 0; i < 1000; i++)
        {
            time.Advance(TimeSpan.FromMilliseconds(9));
            log.Failed("egress message", "ferry.pos.out", error, "lost");
        }
        // 9 s later: still the one line.
        Assert.Single(logs.All);
        time.Advance(TimeSpan.FromSeconds(1));
        log.Failed("control command", "ferry.ctrl.pos", error, "not carried out");
        Assert.Equal(2, logs.All.Count);
        Assert.StartsWith("Error test: stage pos: control command on ferry.ctrl.pos failed (InvalidOperationException: broken); it is not carried out; the gateway goes on with the next message (1000 more failure(s)",
            logs.All.Last());
    }
}
