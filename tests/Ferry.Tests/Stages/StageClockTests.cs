using Ferry.Stages.Internal;
using Microsoft.Extensions.Time.Testing;

namespace Ferry.Tests.Stages;

/// <summary>Milliseconds from timestamps, exactly: timers that are due "not a millisecond early" depend on it.</summary>
public sealed class StageClockTests
{
    /// <summary>A fake clock's timestamps are UTC ticks; this one is 0.49923 ms short of a whole millisecond.</summary>
    private const long JustBelowAMillisecond = 639_030_528_005_049_923;

    [Fact]
    public void Now_is_floored_to_the_millisecond_even_where_a_double_rounds_it_up()
    {
        // (long)(ticks * (1000.0 / 1e7)) gives 63903052800505 here: one millisecond late on the clock,
        // so whatever is due then ran one millisecond early.
        var time = new FakeTimeProvider(new DateTimeOffset(JustBelowAMillisecond, TimeSpan.Zero));
        var clock = new StageClock(time);

        clock.Update();

        Assert.Equal(JustBelowAMillisecond, time.GetTimestamp());
        Assert.Equal(63_903_052_800_504, clock.NowMs);
        Assert.Equal(63_903_052_800_504, clock.NowMsFresh);
    }

    [Fact]
    public void Every_tick_of_a_millisecond_floors_to_it()
    {
        var start = new DateTimeOffset(JustBelowAMillisecond - 5_049_923, TimeSpan.Zero); // a whole millisecond
        var time = new FakeTimeProvider(start);
        var clock = new StageClock(time);
        var first = start.UtcTicks / TimeSpan.TicksPerMillisecond;
        for (var tick = 0; tick < 3 * TimeSpan.TicksPerMillisecond; tick += 7)
        {
            time.SetUtcNow(start.AddTicks(tick));
            clock.Update();
            Assert.Equal(first + tick / TimeSpan.TicksPerMillisecond, clock.NowMs);
        }
    }

    [Theory]
    [InlineData(0, 0)]
    [InlineData(1, 1)]
    [InlineData(10_000, 1)]
    [InlineData(10_001, 2)]
    [InlineData(-1, 0)]
    [InlineData(-10_000, -1)]
    [InlineData(-10_001, -1)]
    public void Durations_round_up_to_whole_milliseconds(long ticks, long ms)
    {
        var clock = new StageClock(new FakeTimeProvider());

        Assert.Equal(ms, clock.ToMsCeiling(ticks));
    }

    /// <summary>A clock whose frequency is not a multiple of 1,000 (some hardware counters) takes the other path.</summary>
    private sealed class OddClock(long timestamp) : TimeProvider
    {
        public override long TimestampFrequency => 3_579_545; // the ACPI PM timer's rate

        public override long GetTimestamp() => timestamp;
    }

    [Theory]
    [InlineData(0L, 0L)]
    [InlineData(3_579_545L, 1_000L)]
    [InlineData(3_579_544L, 999L)]
    [InlineData(3_579_545L * 86_400 * 365 * 50 + 1, 1_576_800_000_000L)] // fifty years of it: no overflow
    public void An_odd_frequency_converts_exactly(long timestamp, long ms)
    {
        var clock = new StageClock(new OddClock(timestamp));

        clock.Update();

        Assert.Equal(ms, clock.NowMs);
    }
}
