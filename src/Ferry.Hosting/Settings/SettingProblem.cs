namespace Ferry.Hosting.Settings;

/// <summary>One invalid setting: where it is, its key, its value and what is allowed.</summary>
/// <param name="Where">File, line and column (or the configuration path).</param>
/// <param name="Key">The full key, e.g. <c>stages[0].config.bind</c>.</param>
/// <param name="Value">The value as written, or null when the key itself is the problem.</param>
/// <param name="Message">What is wrong and what is allowed.</param>
internal sealed record SettingProblem(string Where, string Key, string? Value, string Message)
{
    /// <summary>One line: <c>where: key 'value' message</c>.</summary>
    public override string ToString()
        => Value is null ? $"{Where}: {Key}: {Message}" : $"{Where}: {Key}: '{Escape(Value)}' {Message}";

    private static string Escape(string value) => value.Replace("\n", "\\n").Replace("\r", "\\r").Replace("\t", "\\t");
}
