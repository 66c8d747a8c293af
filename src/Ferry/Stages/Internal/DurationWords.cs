using System.Globalization;

namespace Ferry.Stages.Internal;

/// <summary>
/// A duration as people write it in flags and pipeline files, for messages about options: <c>0</c>, <c>500ms</c>,
/// <c>30s</c>, <c>2m</c>, <c>1h</c> (the largest unit that says it whole), a part of a millisecond as a decimal
/// (<c>0.5ms</c>), a negative one with its sign. What <c>Ferry.Hosting.Settings.DurationText</c> reads back, not
/// <see cref="TimeSpan"/>'s <c>00:00:30</c>, which nobody writes.
/// </summary>
internal static class DurationWords
{
    public static string Of(TimeSpan value)
    {
        var ticks = value.Ticks;
        if (ticks == 0)
            return "0";
        // The magnitude as unsigned, so that TimeSpan.MinValue has one too.
        var sign = ticks < 0 ? "-" : "";
        var magnitude = ticks < 0 ? (ulong)-(ticks + 1) + 1 : (ulong)ticks;
        foreach (var (unitTicks, unit) in Units)
            if (magnitude % unitTicks == 0)
                return sign + (magnitude / unitTicks).ToString(CultureInfo.InvariantCulture) + unit;
        return sign + ((decimal)magnitude / TimeSpan.TicksPerMillisecond).ToString("0.####", CultureInfo.InvariantCulture) + "ms";
    }

    private static readonly (ulong Ticks, string Unit)[] Units =
    [
        ((ulong)TimeSpan.TicksPerHour, "h"),
        ((ulong)TimeSpan.TicksPerMinute, "m"),
        ((ulong)TimeSpan.TicksPerSecond, "s"),
        ((ulong)TimeSpan.TicksPerMillisecond, "ms"),
    ];
}
