namespace Ferry.Stages.Internal;

/// <summary>
/// The stage's time, read once per loop round from its <see cref="TimeProvider"/> so every part of the
/// round agrees on "now" and tests drive idle timeouts, linger, stats, deadlines and back-off with a
/// fake clock. Written by the service thread; other threads read <see cref="NowMsFresh"/>.
/// </summary>
internal sealed class StageClock(TimeProvider time)
{
    // Milliseconds are taken from timestamps with integer arithmetic, never through a double: a fake
    // clock's timestamps are UTC ticks (about 6.4e17, beyond a double's exact integers), and a
    // multiplication by 1e-4 floored 0.7 % of them one millisecond low, so a back-off due "not a
    // millisecond early" could start one early (seen once in CI as a reconnect attempt too many).
    private readonly long _frequency = time.TimestampFrequency;
    /// <summary>Timestamp units per millisecond when that is a whole number (1e4 for ticks, 1e6 for nanoseconds), else 0.</summary>
    private readonly long _unitsPerMs = time.TimestampFrequency % 1000 == 0 ? time.TimestampFrequency / 1000 : 0;

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
        NowMs = ToMsFloor(NowTimestamp);
        NowUtcTicks = Time.GetUtcNow().UtcTicks;
    }

    /// <summary>A duration in timestamp units.</summary>
    public long ToTimestampUnits(TimeSpan duration) => (long)(duration.TotalSeconds * Time.TimestampFrequency);

    /// <summary>Timestamp units in milliseconds, rounded up.</summary>
    public long ToMsCeiling(long timestampUnits)
    {
        var ms = ToMsFloor(timestampUnits);
        return ToUnits(ms) < timestampUnits ? ms + 1 : ms;
    }

    /// <summary>Timestamp units in whole milliseconds, rounded down (toward negative infinity).</summary>
    private long ToMsFloor(long units)
    {
        if (_unitsPerMs > 0)
            return Math.DivRem(units, _unitsPerMs, out var rest) - (rest < 0 ? 1 : 0);
        // Seconds and the rest separately, so that nothing overflows.
        var seconds = Math.DivRem(units, _frequency, out var rest2);
        if (rest2 < 0)
        {
            seconds--;
            rest2 += _frequency;
        }
        return seconds * 1000 + rest2 * 1000 / _frequency;
    }

    /// <summary>Whole milliseconds in timestamp units (the inverse of <see cref="ToMsFloor"/> at a millisecond boundary).</summary>
    private long ToUnits(long ms) => _unitsPerMs > 0
        ? ms * _unitsPerMs
        : Math.DivRem(ms, 1000, out var rest) * _frequency + rest * _frequency / 1000;

    /// <summary>The monotonic milliseconds right now (any thread).</summary>
    public long NowMsFresh => ToMsFloor(Time.GetTimestamp());
}
