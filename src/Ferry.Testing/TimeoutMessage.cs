namespace Ferry.Testing;

/// <summary>The one wording of a failed wait: what was awaited, for how long, and what was seen instead.</summary>
internal static class TimeoutMessage
{
    public static string Format(string what, TimeSpan waited, string? seen)
    {
        var message = $"timed out after {Seconds(waited)} waiting for {what}";
        return string.IsNullOrEmpty(seen) ? message : $"{message}; saw {seen}";
    }

    private static string Seconds(TimeSpan t) => t.TotalSeconds >= 1 ? $"{t.TotalSeconds:0.###} s" : $"{t.TotalMilliseconds:0.###} ms";
}
