using System.Globalization;

namespace Ferry.Hosting.Settings;

/// <summary>Byte sizes: <c>1048576</c>, <c>64KiB</c>, <c>1MiB</c>, <c>1GiB</c> (binary) or <c>64KB</c>, <c>1MB</c> (decimal), up to 2 GiB - 1.</summary>
internal static class SizeText
{
    /// <summary>What a size looks like, for error messages.</summary>
    public const string Allowed = "a size such as 65536, 64KiB, 1MiB or 1MB";

    /// <summary>Parses <paramref name="text"/> into bytes; on failure <paramref name="problem"/> says why.</summary>
    public static bool TryParse(string? text, out int bytes, out string problem)
    {
        bytes = 0;
        problem = "";
        var trimmed = (text ?? "").Trim();
        long unit = 1;
        foreach (var (suffix, scale) in Units)
        {
            if (trimmed.EndsWith(suffix, StringComparison.OrdinalIgnoreCase))
            {
                trimmed = trimmed[..^suffix.Length].TrimEnd();
                unit = scale;
                break;
            }
        }
        if (!long.TryParse(trimmed, NumberStyles.None, CultureInfo.InvariantCulture, out var amount))
        {
            problem = "is not a size; use e.g. 65536, 64KiB, 1MiB or 1MB";
            return false;
        }
        if (amount > int.MaxValue / unit)
        {
            problem = "is too large; the largest size is 2147483647 bytes (2GiB - 1)";
            return false;
        }
        bytes = (int)(amount * unit);
        return true;
    }

    // Longest suffixes first, so "KiB" is not read as "B".
    private static readonly (string Suffix, long Scale)[] Units =
    [
        ("KiB", 1024), ("MiB", 1024 * 1024), ("GiB", 1024 * 1024 * 1024),
        ("KB", 1000), ("MB", 1000_000), ("GB", 1000_000_000), ("B", 1),
    ];
}
