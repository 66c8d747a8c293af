using Ferry.Hosting.Settings;

namespace Ferry.Tests.Hosting;

/// <summary>
/// The seeds' configurations are Go's, and Go writes durations as <c>time.ParseDuration</c> reads them: units in sequence
/// (<c>1h30m</c>) and units below a millisecond (<c>1500us</c>). Copied into a Ferry file as written, they were refused.
/// </summary>
public sealed class GoDurationTests
{
    [Theory]
    [InlineData("1h30m", 90 * 60_000.0)]
    [InlineData("2m30.5s", 150_500.0)]
    [InlineData("1h0m0s", 3_600_000.0)]
    [InlineData("1500us", 1.5)]
    [InlineData("1500µs", 1.5)]
    [InlineData("2000000ns", 2.0)]
    [InlineData("1s500ms", 1_500.0)]
    [InlineData("500ms", 500.0)]
    [InlineData("30s", 30_000.0)]
    [InlineData("0", 0.0)]
    public void Go_durations_are_read_as_Go_reads_them(string text, double milliseconds)
    {
        Assert.True(DurationText.TryParse(text, out var value, out var problem), problem);
        Assert.Equal(TimeSpan.FromMilliseconds(milliseconds), value);
    }

    [Theory]
    [InlineData("500us", "is below 1ms, the smallest duration the stage's timers keep; use 0 or at least 1ms")]
    [InlineData("900h", "is too long; the longest duration is 596h (2147483647ms)")]
    [InlineData("1h30", "is not a duration; use e.g. 30s, 500ms, 2m, 1h or 0")]
    [InlineData("1d", "is not a duration; use e.g. 30s, 500ms, 2m, 1h or 0")]
    [InlineData("-1h30m", "is not a duration; use e.g. 30s, 500ms, 2m, 1h or 0")]
    [InlineData("5", "has no unit: write 5s or 5ms")]
    public void What_the_stage_cannot_keep_or_Go_would_not_read_is_refused_with_the_reason(string text, string expected)
    {
        Assert.False(DurationText.TryParse(text, out _, out var problem));
        Assert.Equal(expected, problem);
    }
}
