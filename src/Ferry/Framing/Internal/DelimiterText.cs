using System.Globalization;
using System.Text;

namespace Ferry.Framing.Internal;

/// <summary>
/// The text form of a delimiter in a spec: plain text (UTF-8), escapes <c>\n \r \t \0 \\ \xHH</c>, or
/// hex bytes <c>0x0d0a</c>. A comma cannot appear in a spec value, so it is written <c>\x2c</c>; a text that starts with
/// <c>0x</c> is written <c>\x30x...</c>, since anything that starts with <c>0x</c> is hex (and refused when it is not valid hex).
/// </summary>
internal static class DelimiterText
{
    public const int MaxBytes = 16;

    /// <summary>What a delimiter may be written as, for the errors that cannot point at one bad escape.</summary>
    private static readonly string Allowed = $"allowed: 1 to {MaxBytes} bytes as text, with escapes \\n \\r \\t \\0 \\\\ \\xHH, or as hex 0x0d0a";

    /// <summary>The delimiter's bytes, or null with <paramref name="why"/> saying what is wrong.</summary>
    public static byte[]? Parse(string text, out string? why)
    {
        why = null;
        if (text.Length == 0)
        {
            why = $"the delimiter is empty ({Allowed})";
            return null;
        }

        // Everything that starts with 0x is hex: "0x0d0" is a typo of hex far more often than the 5-byte text, and taking
        // it as text would frame silently wrong. The text itself is written with its '0' escaped, \x30x.
        var bytes = text.Length >= 2 && text[0] == '0' && text[1] is 'x' or 'X' ? ParseHex(text, out why) : ParseEscaped(text, out why);
        if (bytes is null)
            return null;
        if (bytes.Length > MaxBytes)
        {
            why = $"the delimiter is {bytes.Length} bytes long; at most {MaxBytes} are allowed";
            return null;
        }
        return bytes;
    }

    /// <summary>The text that <see cref="Parse"/> turns back into exactly these bytes.</summary>
    public static string Format(ReadOnlySpan<byte> delimiter)
    {
        var text = new StringBuilder();
        for (var i = 0; i < delimiter.Length; i++)
        {
            var b = delimiter[i];
            switch (b)
            {
                case (byte)'\n': text.Append("\\n"); break;
                case (byte)'\r': text.Append("\\r"); break;
                case (byte)'\t': text.Append("\\t"); break;
                case (byte)'\\': text.Append("\\\\"); break;
                // A leading '0' could be read as the start of "0x..." hex; commas end a setting.
                case (byte)',' or (byte)' ':
                case (byte)'0' when i == 0:
                    text.Append(CultureInfo.InvariantCulture, $"\\x{b:x2}"); break;
                case > 0x20 and < 0x7f: text.Append((char)b); break;
                default: text.Append(CultureInfo.InvariantCulture, $"\\x{b:x2}"); break;
            }
        }
        return text.ToString();
    }

    /// <summary>What a hex delimiter must be, and how to write the text "0x..." instead (the escape that already exists).</summary>
    private const string HexAllowed = "after 0x give an even number of hex digits, two per byte, e.g. 0x03 or 0x0d0a; "
        + "for a text that starts with \"0x\", write its '0' as the escape \\x30, e.g. \\x30xff";

    /// <summary><paramref name="text"/> is <c>0x</c> (or <c>0X</c>) and then, to be valid, an even number (at least two) of hex digits.</summary>
    private static byte[]? ParseHex(string text, out string? why)
    {
        var hex = text.AsSpan(2);
        if (hex.IsEmpty)
        {
            why = $"no hex digits after {text}; {HexAllowed}";
            return null;
        }
        for (var i = 0; i < hex.Length; i++)
        {
            var c = hex[i];
            if (!char.IsAsciiHexDigit(c))
            {
                // A control character, a space or half of a surrogate pair would not print as itself.
                var shown = char.IsControl(c) || char.IsWhiteSpace(c) || char.IsSurrogate(c) ? $"U+{(int)c:X4}" : $"'{c}'";
                why = $"{shown} at character {i + 2} is not a hex digit; {HexAllowed}";
                return null;
            }
        }
        if (hex.Length % 2 != 0)
        {
            why = $"an odd number of hex digits ({hex.Length}) after 0x; {HexAllowed}";
            return null;
        }
        var bytes = new byte[hex.Length / 2];
        for (var i = 0; i < bytes.Length; i++)
            bytes[i] = byte.Parse(hex.Slice(2 * i, 2), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture);
        why = null;
        return bytes;
    }

    private static byte[]? ParseEscaped(string text, out string? why)
    {
        why = null;
        var bytes = new List<byte>(text.Length);
        Span<byte> utf8 = stackalloc byte[4];
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            if (c != '\\')
            {
                // A lone surrogate is no character: a spec from a YAML or JSON "\uD800" escape has one, and
                // GetRuneAt would throw ArgumentException where the caller expects a FramingException.
                if (!Rune.TryGetRuneAt(text, i, out var rune))
                {
                    why = $"the delimiter has a lone UTF-16 surrogate (U+{(int)c:X4}) at character {i}, which is not a character ({Allowed})";
                    return null;
                }
                var n = rune.EncodeToUtf8(utf8);
                for (var k = 0; k < n; k++)
                    bytes.Add(utf8[k]);
                i += rune.Utf16SequenceLength - 1;
                continue;
            }

            if (i + 1 == text.Length)
            {
                why = $"the delimiter ends with a lone '\\' ({Allowed})";
                return null;
            }
            var e = text[++i];
            switch (e)
            {
                case 'n': bytes.Add((byte)'\n'); break;
                case 'r': bytes.Add((byte)'\r'); break;
                case 't': bytes.Add((byte)'\t'); break;
                case '0': bytes.Add(0); break;
                case '\\': bytes.Add((byte)'\\'); break;
                case 'x' when i + 2 < text.Length
                    && byte.TryParse(text.AsSpan(i + 1, 2), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var b):
                    bytes.Add(b);
                    i += 2;
                    break;
                case 'x':
                    why = $"escape '\\x' at character {i} needs two hex digits, e.g. \\x03";
                    return null;
                default:
                    why = $"unknown escape '\\{e}' (allowed: \\n \\r \\t \\0 \\\\ \\xHH)";
                    return null;
            }
        }
        return bytes.ToArray();
    }
}
