
namespace Ferry.Hosting.Telemetry;

/// <summary>
/// One stage's packet-group publish latencies, aggregated by Ferry itself into fixed buckets: an
/// OpenTelemetry histogram costs a tag look-up and a lock per measurement, which at a million groups a
/// second was most of the export's cost (docs/benchmarks.md). Here a measurement is a clock read, a
/// short scan of the bounds and two plain increments by the thread that publishes the stage's groups
/// (its service thread); the collector reads cumulative bucket counts, the count and the exact sum.
/// </summary>
/// <remarks>
/// Single writer: the first thread that records owns the fast arrays. Any other thread (a group
/// published on the stage's topic from elsewhere) records under a lock into a second set, and readers
/// add both, so nothing is lost whoever publishes. Readers see each cell whole (8-byte aligned longs)
/// but not all cells at one instant: a scrape during traffic may see the sum a few groups ahead of or
/// behind the buckets, never a count that goes down.
/// </remarks>
internal sealed class PublishLatencyHistogram
{
    /// <summary>Upper bounds in seconds, inclusive (a Prometheus <c>le</c>); a last bucket takes everything above.</summary>
    public static readonly double[] BoundsSeconds = [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

    /// <summary>The <c>le</c> tag of each bucket: the bound as Prometheus writes it, then <c>+Inf</c>. Written out rather
    /// than formatted from <see cref="BoundsSeconds"/>: formatting 15 doubles was on every start's path (the class
    /// constructor runs when a stage's metrics are tracked); <c>PublishLatencyHistogramTests</c> checks they agree.</summary>
    public static readonly string[] UpperBoundLabels =
        ["0.00005", "0.0001", "0.00025", "0.0005", "0.001", "0.0025", "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "+Inf"];

    /// <summary><see cref="BoundsSeconds"/> in ticks (100 ns), written out for the same reason; checked by the same tests.</summary>
    internal static readonly long[] BoundsTicks =
        [500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000, 1_000_000, 2_500_000, 5_000_000, 10_000_000, 25_000_000];

    private readonly Cells _owned = new();
    private readonly Cells _shared = new();
    private readonly Lock _sharedGate = new();
    private int _owner;

    /// <summary>Records one group's latency, <paramref name="ticks"/> (100 ns units; below zero counts as zero, a clock step).</summary>
    public void Record(long ticks)
    {
        if (ticks < 0)
            ticks = 0;
        var bucket = BucketOf(ticks);
        var thread = Environment.CurrentManagedThreadId;
        if (_owner == thread || (_owner == 0 && Interlocked.CompareExchange(ref _owner, thread, 0) == 0))
        {
            _owned.Add(bucket, ticks);
            return;
        }
        lock (_sharedGate)
            _shared.Add(bucket, ticks);
    }

    /// <summary>The bucket <paramref name="ticks"/> falls in: the first whose bound it does not exceed (most latencies hit the first).</summary>
    internal static int BucketOf(long ticks)
    {
        var bounds = BoundsTicks;
        for (var i = 0; i < bounds.Length; i++)
            if (ticks <= bounds[i])
                return i;
        return bounds.Length;
    }

    /// <summary>Groups with a latency at most each bound (cumulative, the last is the count), as <see cref="UpperBoundLabels"/> names them.</summary>
    public long[] CumulativeCounts()
    {
        var counts = new long[BoundsTicks.Length + 1];
        long running = 0;
        for (var i = 0; i < counts.Length; i++)
        {
            running += _owned.Count(i) + _shared.Count(i);
            counts[i] = running;
        }
        return counts;
    }

    /// <summary>Groups recorded.</summary>
    public long Count => CumulativeCounts()[^1];

    /// <summary>The sum of all recorded latencies, in seconds (kept exactly, in ticks).</summary>
    public double SumSeconds => (_owned.SumTicks + _shared.SumTicks) / (double)TimeSpan.TicksPerSecond;

    /// <summary>One writer's counters.</summary>
    private sealed class Cells
    {
        private readonly long[] _counts = new long[BoundsTicks.Length + 1];
        private long _sumTicks;

        public long SumTicks => Volatile.Read(ref _sumTicks);

        public long Count(int bucket) => Volatile.Read(ref _counts[bucket]);

        /// <summary>Called by one thread at a time (the owner, or under the shared lock): plain read-add-write.</summary>
        public void Add(int bucket, long ticks)
        {
            Volatile.Write(ref _counts[bucket], _counts[bucket] + 1);
            Volatile.Write(ref _sumTicks, _sumTicks + ticks);
        }
    }
}
