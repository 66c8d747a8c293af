using System.Globalization;
using System.Text;

namespace Ferry.Stages.Internal;

/// <summary>
/// What a stage name may be, the one rule the library, Ferry.Hosting and <c>ferry run</c> apply. A name is the stage's bus topics
/// (<c>name/…</c>), a tag of every metric series, part of every log line and logger category, and with a NATS gateway part of
/// subjects, streams and consumers (that stricter rule is the gateway's own, <c>NatsGatewayOptions.Validate</c>).
/// </summary>
/// <remarks>
/// Refused: '/' (it would split the topics), '=' (it ends the key of <c>--set stages.NAME.config.KEY=VALUE</c> and cannot be
/// in an environment variable's name), control characters (a newline or an escape sequence would forge or garble log lines
/// and terminal output), invisible format characters and white space at either end (two names that look alike in every log
/// line would be two stages), and more than <see cref="Longest"/> characters (the name is
/// in every metric series and log line; with NATS, a JetStream consumer name is the stage's name plus up to 15 characters
/// and may not exceed 255).
/// </remarks>
internal static class StageNames
{
    /// <summary>The most characters (UTF-16 code units) a stage name may have.</summary>
    public const int Longest = 128;

    /// <summary>What is allowed, said after each refusal.</summary>
    public const string Allowed = "a stage name is 1 to 128 characters without '/', '=', control or format characters, and without white space at either end";

    /// <summary>Why <paramref name="name"/> cannot be a stage name; null when it can.</summary>
    public static string? Problem(string? name)
    {
        if (name is null)
            return "null";
        if (name.Length == 0 || string.IsNullOrWhiteSpace(name))
            return "empty";
        if (name.Length > Longest)
            return $"{name.Length} characters long";
        foreach (var c in name)
        {
            if (c == '/' || c == '=')
                return $"'{c}' in it";
            if (char.IsControl(c) || CharUnicodeInfo.GetUnicodeCategory(c) == UnicodeCategory.Format)
                return $"control or format character U+{(int)c:X4} in it";
        }
        if (char.IsWhiteSpace(name[0]) || char.IsWhiteSpace(name[^1]))
            return "white space at an end";
        return null;
    }

    /// <summary>
    /// <paramref name="name"/> quoted as a problem may show it: control and format characters as <c>\uXXXX</c> (so the error cannot
    /// forge a line of its own), and a long name cut after 40 characters, with its length.
    /// </summary>
    public static string Quote(string? name)
    {
        if (name is null)
            return "null";
        var cut = name.Length > 48;
        var shown = new StringBuilder("'");
        foreach (var c in cut ? name[..40] : name)
            shown.Append(char.IsControl(c) || CharUnicodeInfo.GetUnicodeCategory(c) == UnicodeCategory.Format ? $"\\u{(int)c:X4}" : c.ToString());
        return cut ? $"{shown}…' ({name.Length} characters)" : shown.Append('\'').ToString();
    }
}
