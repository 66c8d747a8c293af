using System.Globalization;
using System.Security.Cryptography;

namespace Ferry.Connections;

/// <summary>
/// Identifies one connection. Unique for the life of the process and never reused (a 64-bit
/// sequence), and unlikely to collide across restarts and machines (a random 32-bit instance
/// prefix drawn at start-up). Written as <c>iiiiiiii-n</c>, e.g. <c>3fa2c1d9-42</c>.
/// </summary>
public readonly record struct ConnectionId(uint Instance, ulong Sequence) : ISpanFormattable
{
    private static readonly uint ProcessInstance = (uint)RandomNumberGenerator.GetInt32(int.MaxValue) | 0x8000_0000u;
    private static long s_next;

    public static ConnectionId None => default;

    public bool IsNone => Sequence == 0;

    internal static ConnectionId Next() => new(ProcessInstance, (ulong)Interlocked.Increment(ref s_next));

    public override string ToString() => IsNone ? "" : $"{Instance:x8}-{Sequence}";

    public string ToString(string? format, IFormatProvider? formatProvider) => ToString();

    public bool TryFormat(Span<char> destination, out int charsWritten, ReadOnlySpan<char> format, IFormatProvider? provider)
        => IsNone ? (charsWritten = 0) == 0 : destination.TryWrite(CultureInfo.InvariantCulture, $"{Instance:x8}-{Sequence}", out charsWritten);

    public static bool TryParse(ReadOnlySpan<char> text, out ConnectionId id)
    {
        id = default;
        var dash = text.IndexOf('-');
        if (dash != 8
            || !uint.TryParse(text[..dash], NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var instance)
            || !ulong.TryParse(text[(dash + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out var sequence)
            || sequence == 0)
            return false;
        id = new ConnectionId(instance, sequence);
        return true;
    }

    public static ConnectionId Parse(string text) =>
        TryParse(text, out var id) ? id : throw new FormatException($"'{text}' is not a connection id (expected iiiiiiii-n, e.g. 3fa2c1d9-42)");
}
