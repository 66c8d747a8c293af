namespace Ferry.Cli;

/// <summary>How log lines look on stderr.</summary>
internal enum LogFormat
{
    /// <summary>One plain line per entry: time, level, category, message.</summary>
    Plain,

    /// <summary>One JSON object per entry (Microsoft.Extensions.Logging's JSON console formatter).</summary>
    Json,
}
