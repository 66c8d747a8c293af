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
        => Value is null ? $"{Where}: {Key}: {Message}" : $"{Where}: {Key}: {Show(Value)} {Message}";

    /// <summary>Values longer than this are cut in a problem (a file's whole PEM block, a pasted log): the key says where it is.</summary>
    internal const int ShownValueLength = 512;

    /// <summary>
    /// The value quoted as a problem line may show it: line breaks and tabs as <c>\n</c>, <c>\r</c>, <c>\t</c>, every other
    /// control or format character as <c>\uXXXX</c> (an escape sequence must not reach the reader's terminal, nor a line
    /// break forge a problem of its own), and a long value cut, with its length.
    /// </summary>
    private static string Show(string value)
    {
        var cut = value.Length > ShownValueLength;
        var shown = new System.Text.StringBuilder("'");
        foreach (var c in cut ? value.AsSpan(0, ShownValueLength - 32) : value.AsSpan())
        {
            _ = c switch
            {
                '\n' => shown.Append("\\n"),
                '\r' => shown.Append("\\r"),
                '\t' => shown.Append("\\t"),
                _ when char.IsControl(c) || System.Globalization.CharUnicodeInfo.GetUnicodeCategory(c) == System.Globalization.UnicodeCategory.Format
                    => shown.Append($"\\u{(int)c:X4}"),
                _ => shown.Append(c),
            };
        }
        return cut ? $"{shown}…' ({value.Length} characters)" : shown.Append('\'').ToString();
    }
}
