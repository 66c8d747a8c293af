using Ferry.Hosting.Settings;

namespace Ferry.Cli;

/// <summary>Argument text helpers shared by the commands.</summary>
internal static class CliArguments
{
    /// <summary>Parses <c>500ms</c>, <c>30s</c>, <c>2m</c>, <c>1h</c> or <c>0</c> (a number without a unit is refused); null when it is not a valid duration (see <see cref="DurationText"/>).</summary>
    public static TimeSpan? ParseDuration(string text) => DurationText.TryParse(text, out var value, out _) ? value : null;
}
