using Ferry.Stages;
using Ferry.Stages.Internal;

namespace Ferry.Tests.Stages;

/// <summary>What a client stage's option check says: durations as people write them, and which option to change.</summary>
public sealed class ClientStageOptionsTests
{
    [Fact]
    public void A_reconnect_wait_above_its_cap_names_both_as_written_and_which_way_to_change_each()
    {
        // Before: "options 'reconnect_wait'/'reconnect_max_wait': 01:00:00/00:00:30 are not allowed; the wait must be positive
        // and not above the maximum": TimeSpan text, and not which to change.
        var refused = Assert.Throws<StageOptionsException>(() =>
            new TcpClientStageOptions { ReconnectWait = TimeSpan.FromHours(1), ReconnectMaxWait = TimeSpan.FromSeconds(30) }.Validate());
        Assert.Equal(["TcpClientStageOptions.ReconnectWait: 1h is longer than 'ReconnectMaxWait' 30s; the first wait must not be above the cap: "
            + "lower ReconnectWait or raise ReconnectMaxWait"], refused.Problems);
    }

    [Fact]
    public void Durations_out_of_range_are_printed_as_written_each_naming_its_option()
    {
        var refused = Assert.Throws<StageOptionsException>(() => new TcpClientStageOptions
        {
            ReconnectWait = TimeSpan.Zero,
            ConnectTimeout = TimeSpan.FromMilliseconds(-500),
            EgressWaitTimeout = TimeSpan.Zero,
            GroupLinger = TimeSpan.FromSeconds(90),
            StatsInterval = TimeSpan.FromMilliseconds(5),
            IdleTimeout = TimeSpan.FromTicks(5_000),
        }.Validate());
        Assert.Equal(
        [
            "TcpClientStageOptions.GroupLinger: 90s is not allowed; must be from 0 to 1 minute",
            "TcpClientStageOptions.IdleTimeout: 0.5ms is not allowed; must be 0 (never) or at least 1 ms",
            "TcpClientStageOptions.StatsInterval: 5ms is not allowed; must be at least 10 ms",
            "TcpClientStageOptions.EgressWaitTimeout: 0 is not allowed; use a duration above 0, e.g. 5s",
            "TcpClientStageOptions.ConnectTimeout: -500ms is not allowed; use a duration above 0, e.g. 10s",
            "TcpClientStageOptions.ReconnectWait: 0 is not allowed; use a duration above 0, e.g. 1s",
        ], refused.Problems);
    }

    [Fact]
    public void A_negative_healthy_after_is_refused_and_zero_is_taken()
    {
        // Before: accepted, counting every connection healthy at once (no back-off against a server that accepts and drops).
        var options = new TcpClientStageOptions { Connect = "127.0.0.1:1", HealthyAfter = TimeSpan.FromSeconds(-1) };
        var refused = Assert.Throws<StageOptionsException>(options.Validate);
        Assert.Contains("TcpClientStageOptions.HealthyAfter: -1s is not allowed; must be 0 or more, e.g. 10s", refused.Problems);
        (options with { HealthyAfter = TimeSpan.Zero }).Validate();
    }

    [Theory]
    [InlineData(0L, "0")]
    [InlineData(TimeSpan.TicksPerHour, "1h")]
    [InlineData(36 * TimeSpan.TicksPerHour, "36h")]
    [InlineData(90 * TimeSpan.TicksPerMinute, "90m")]
    [InlineData(30 * TimeSpan.TicksPerSecond, "30s")]
    [InlineData(1_500 * TimeSpan.TicksPerMillisecond, "1500ms")]
    [InlineData(TimeSpan.TicksPerMillisecond / 4, "0.25ms")]
    [InlineData(-2 * TimeSpan.TicksPerSecond, "-2s")]
    [InlineData(long.MinValue, "-922337203685477.5808ms")]
    public void A_duration_is_written_in_the_largest_unit_that_says_it_whole(long ticks, string expected)
        => Assert.Equal(expected, DurationWords.Of(TimeSpan.FromTicks(ticks)));
}
