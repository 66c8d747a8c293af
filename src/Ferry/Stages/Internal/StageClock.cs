namespace Ferry.Stages.Internal;

/// <summary>
/// The stage's time, read once per loop round from its <see cref="TimeProvider"/> so every part of the
/// round agrees on "now" and tests drive idle timeouts, linger, stats, deadlines and back-off with a
/// fake clock. Written by the service thread; other threads read <see cref="NowMsFresh"/>.
/// </summary>
internal sealed class StageClock(TimeProvider time)
{
    private readonly double _msPerTick = 1000.0 / time.TimestampFrequency;

    public TimeProvider Time { get; } = time;

    /// <summary>Whether time is the system's: the loop's wait timeout alone then keeps timers on time.</summary>
    public bool IsSystem { get; } = ReferenceEquals(time, TimeProvider.System);

    /// <summary>This round's monotonic timestamp (<see cref="TimeProvider.GetTimestamp"/> units): fine-grained, for group linger.</summary>
    public long NowTimestamp { get; private set; }

    /// <summary>This round's time in milliseconds on a monotonic scale.</summary>
    public long NowMs { get; private set; }

    /// <summary>This round's wall-clock time (UTC ticks), for event and packet stamps.</summary>
    public long NowUtcTicks { get; private set; }

    public DateTimeOffset UtcNow => new(NowUtcTicks, TimeSpan.Zero);

    public void Update()
    {
        NowTimestamp = Time.GetTimestamp();
        NowMs = (long)(NowTimestamp * _msPerTick);
        NowUtcTicks = Time.GetUtcNow().UtcTicks;
    }

    /// <summary>A duration in timestamp units.</summary>
    public long ToTimestampUnits(TimeSpan duration) => (long)(duration.TotalSeconds * Time.TimestampFrequency);

    /// <summary>Timestamp units in milliseconds, rounded up.</summary>
    public long ToMsCeiling(long timestampUnits) => (long)Math.Ceiling(timestampUnits * _msPerTick);

    /// <summary>The monotonic milliseconds right now (any thread).</summary>
    public long NowMsFresh => (long)(Time.GetTimestamp() * _msPerTick);
}
