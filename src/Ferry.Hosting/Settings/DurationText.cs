using System.Globalization;

namespace Ferry.Hosting.Settings;

/// <summary>
/// Durations as people write them in flags and files: <c>500ms</c>, <c>30s</c>, <c>2m</c>, <c>1h</c>, or <c>0</c>; and as
/// the seeds' Go configurations write them (Go's <c>time.ParseDuration</c>): units in sequence, <c>1h30m</c>, <c>2m30.5s</c>,
/// and the units below a millisecond, <c>1500us</c> (<c>µs</c>, <c>ns</c>).
/// Strict: a number without a unit other than 0 (is <c>group_linger: 5</c> five milliseconds or five seconds?), NaN,
/// infinity, negatives, values past <see cref="Max"/> and non-zero values below one millisecond (which the stage's
/// millisecond timers would silently turn into "never") are refused with a reason. A key whose name carries its unit
/// (seed 004's <c>timeout_seconds</c>) is read as a number by its reader, not here.
/// </summary>
internal static class DurationText
{
    /// <summary>The longest duration accepted: <see cref="int.MaxValue"/> milliseconds (about 24.8 days), what a timer can wait.</summary>
    public static readonly TimeSpan Max = TimeSpan.FromMilliseconds(int.MaxValue);

    /// <summary>What a duration looks like, for error messages.</summary>
    public const string Allowed = "a duration such as 500ms, 30s, 2m, 1h or 0 (at least 1ms, at most 596h)";

    /// <summary>Parses <paramref name="text"/>; on failure <paramref name="problem"/> says why (without the value).</summary>
    public static bool TryParse(string? text, out TimeSpan value, out string problem)
    {
        value = TimeSpan.Zero;
        problem = "";
        var trimmed = (text ?? "").Trim();
        if (TryParseSequence(trimmed, out var sequenceMs))
            return InRange(sequenceMs, out value, out problem);
        // No unit: only 0 means the same whatever the unit; any other number is refused below.
        (string number, double millisecondsPerUnit) = trimmed switch
        {
            _ when trimmed.EndsWith("ms", StringComparison.OrdinalIgnoreCase) => (trimmed[..^2], 1.0),
            _ when trimmed.EndsWith('s') || trimmed.EndsWith('S') => (trimmed[..^1], 1000.0),
            _ when trimmed.EndsWith('m') || trimmed.EndsWith('M') => (trimmed[..^1], 60_000.0),
            _ when trimmed.EndsWith('h') || trimmed.EndsWith('H') => (trimmed[..^1], 3_600_000.0),
            _ => (trimmed, 0.0),
        };
        if (!double.TryParse(number, NumberStyles.AllowDecimalPoint | NumberStyles.AllowExponent | NumberStyles.AllowLeadingSign,
                CultureInfo.InvariantCulture, out var amount) || !double.IsFinite(amount))
        {
            problem = TimeSpanWritten(trimmed) is { } written
                ? $"is a .NET TimeSpan; write durations with a unit: {written} (e.g. 30s, 500ms, 2m, 1h or 0)"
                : "is not a duration; use e.g. 30s, 500ms, 2m, 1h or 0";
            return false;
        }
        if (amount < 0)
        {
            // Not "use 0 or more": several keys take only durations above 0 (reconnect_wait, connect_timeout, …), and
            // a user told 0 was allowed got a second refusal for it. Each key's own range is said once the value parses.
            problem = "is not a duration: it is negative; write one such as 500ms, 30s, 2m or 1h";
            return false;
        }
        if (millisecondsPerUnit == 0 && amount != 0)
        {
            problem = $"has no unit: write {number}s or {number}ms";
            return false;
        }
        return InRange(amount * millisecondsPerUnit, out value, out problem);
    }

    /// <summary>A length in milliseconds, held to what the stage's timers keep.</summary>
    private static bool InRange(double milliseconds, out TimeSpan value, out string problem)
    {
        value = TimeSpan.Zero;
        problem = "";
        if (milliseconds > int.MaxValue)
        {
            problem = "is too long; the longest duration is 596h (2147483647ms)";
            return false;
        }
        if (milliseconds > 0 && milliseconds < 1)
        {
            problem = "is below 1ms, the smallest duration the stage's timers keep; use 0 or at least 1ms";
            return false;
        }
        value = TimeSpan.FromMilliseconds(Math.Round(milliseconds, 3));
        return true;
    }

    /// <summary>
    /// Go's duration grammar: one or more of a decimal number and its unit (<c>ns</c>, <c>us</c>, <c>µs</c>, <c>ms</c>, <c>s</c>,
    /// <c>m</c>, <c>h</c>), e.g. <c>1h30m</c> or <c>1500us</c>, summed. False for anything else (a sign, an exponent, a number
    /// without a unit, an unknown unit), which the single-number reading then accepts or explains.
    /// </summary>
    private static bool TryParseSequence(string text, out double milliseconds)
    {
        milliseconds = 0;
        var at = 0;
        while (at < text.Length)
        {
            var numberStart = at;
            while (at < text.Length && (char.IsAsciiDigit(text[at]) || text[at] == '.'))
                at++;
            if (at == numberStart || !double.TryParse(text.AsSpan(numberStart, at - numberStart), NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var amount))
                return false;
            var unitStart = at;
            while (at < text.Length && !char.IsAsciiDigit(text[at]) && text[at] != '.')
                at++;
            var perUnit = text.AsSpan(unitStart, at - unitStart) switch
            {
                "ns" => 1e-6,
                "us" or "µs" or "μs" => 1e-3,
                "ms" or "MS" or "Ms" or "mS" => 1.0,
                "s" or "S" => 1_000.0,
                "m" or "M" => 60_000.0,
                "h" or "H" => 3_600_000.0,
                _ => -1.0,
            };
            if (perUnit < 0)
                return false;
            milliseconds += amount * perUnit;
        }
        return at > 0;
    }

    /// <summary>
    /// A .NET user writes <c>"IdleTimeout": "00:00:30"</c>, as configuration binding takes a TimeSpan elsewhere; told only "not a
    /// duration", they were not told what to write. The same length with a unit (<c>30s</c>), or null when it is no TimeSpan.
    /// </summary>
    private static string? TimeSpanWritten(string text)
    {
        if (!text.Contains(':', StringComparison.Ordinal) || !TimeSpan.TryParseExact(text, "c", CultureInfo.InvariantCulture, out var span) || span < TimeSpan.Zero)
            return null;
        // Zero is every unit's zero: "0", not "0h" (which read as a suggestion of hours).
        return span == TimeSpan.Zero ? "0"
            : span.Ticks % TimeSpan.TicksPerHour == 0 ? $"{(long)span.TotalHours}h"
            : span.Ticks % TimeSpan.TicksPerMinute == 0 ? $"{(long)span.TotalMinutes}m"
            : span.Ticks % TimeSpan.TicksPerSecond == 0 ? $"{(long)span.TotalSeconds}s"
            : $"{span.TotalMilliseconds.ToString(CultureInfo.InvariantCulture)}ms";
    }
}
