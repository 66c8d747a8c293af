using Ferry.Hosting.Telemetry;

namespace Ferry.Tests.Telemetry;

public sealed class PublishLatencyHistogramTests
{
    private const long Ms = TimeSpan.TicksPerMillisecond;

    [Theory]
    [InlineData(0, 0)]
    [InlineData(500, 0)]             // 50 µs: the first bound is inclusive (Prometheus le)
    [InlineData(501, 1)]
    [InlineData(1 * Ms, 4)]          // le=0.001
    [InlineData(1 * Ms + 1, 5)]
    [InlineData(2_500 * Ms, 14)]     // le=2.5, the last bound
    [InlineData(2_500 * Ms + 1, 15)] // +Inf
    [InlineData(long.MaxValue, 15)]
    public void A_latency_falls_in_the_first_bucket_whose_bound_it_does_not_exceed(long ticks, int bucket)
        => Assert.Equal(bucket, PublishLatencyHistogram.BucketOf(ticks));

    [Fact]
    public void The_labels_are_the_bounds_as_Prometheus_writes_them_then_Inf()
    {
        Assert.Equal(PublishLatencyHistogram.BoundsSeconds.Length + 1, PublishLatencyHistogram.UpperBoundLabels.Length);
        Assert.Equal("0.00005", PublishLatencyHistogram.UpperBoundLabels[0]);
        Assert.Equal("0.001", PublishLatencyHistogram.UpperBoundLabels[4]);
        Assert.Equal("2.5", PublishLatencyHistogram.UpperBoundLabels[14]);
        Assert.Equal("+Inf", PublishLatencyHistogram.UpperBoundLabels[^1]);
    }

    [Fact]
    public void The_written_out_labels_and_ticks_agree_with_the_bounds_in_seconds()
    {
        // Both tables are written out (no formatting at start); a bound changed in one place only must fail here.
        var bounds = PublishLatencyHistogram.BoundsSeconds;
        Assert.Equal(bounds.Length, PublishLatencyHistogram.BoundsTicks.Length);
        for (var i = 0; i < bounds.Length; i++)
        {
            Assert.Equal(bounds[i].ToString("0.#########", System.Globalization.CultureInfo.InvariantCulture), PublishLatencyHistogram.UpperBoundLabels[i]);
            Assert.Equal((long)Math.Round(bounds[i] * TimeSpan.TicksPerSecond), PublishLatencyHistogram.BoundsTicks[i]);
        }
    }

    [Fact]
    public void Buckets_are_cumulative_and_count_and_sum_are_exact()
    {
        var histogram = new PublishLatencyHistogram();
        histogram.Record(100);        // 10 µs
        histogram.Record(3 * Ms);     // le=0.005
        histogram.Record(3 * Ms);
        histogram.Record(10_000 * Ms); // +Inf
        histogram.Record(-5 * Ms);    // a clock step back counts as zero

        var counts = histogram.CumulativeCounts();
        Assert.Equal([2, 2, 2, 2, 2, 2, 4, 4, 4, 4, 4, 4, 4, 4, 4, 5], counts);
        Assert.Equal(5, histogram.Count);
        Assert.Equal((100 + 6 * Ms + 10_000 * Ms) / (double)TimeSpan.TicksPerSecond, histogram.SumSeconds);
    }

    [Fact]
    public void Groups_recorded_by_another_thread_than_the_owner_are_counted_too()
    {
        var histogram = new PublishLatencyHistogram();
        histogram.Record(1 * Ms); // this thread owns the fast cells
        var others = Enumerable.Range(0, 4).Select(_ => new Thread(() =>
        {
            for (var i = 0; i < 10_000; i++)
                histogram.Record(2 * Ms);
        })).ToArray();
        foreach (var t in others) t.Start();
        foreach (var t in others) Assert.True(t.Join(TimeSpan.FromSeconds(60)), "a recording thread did not finish");

        Assert.Equal(40_001, histogram.Count);
        Assert.Equal(1, histogram.CumulativeCounts()[4]);
        Assert.Equal((1 * Ms + 40_000 * 2 * Ms) / (double)TimeSpan.TicksPerSecond, histogram.SumSeconds);
    }
}
