using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Security.Cryptography;

namespace Ferry.Connections;

/// <summary>
/// Identifies one connection. Unique for the life of the process and never reused (a 64-bit
/// sequence), and unlikely to collide across restarts and machines (a random 32-bit instance
/// prefix drawn at start-up). Written as <c>iiiiiiii-n</c>, e.g. <c>3fa2c1d9-42</c>.
/// </summary>
/// <param name="Instance">The process's random 32-bit prefix (high bit set), the same for every connection of the process.</param>
/// <param name="Sequence">The connection's number within the process, from 1; 0 only in <see cref="None"/>.</param>
/// <remarks>
/// <see cref="ISpanParsable{TSelf}"/> (the same <c>iiiiiiii-n</c> form, the format provider ignored), so an id binds from a
/// route or query value as numbers do (<c>app.MapPost("/connections/{id}/close", (ConnectionId id) =&gt; …)</c>).
/// </remarks>
public readonly record struct ConnectionId(uint Instance, ulong Sequence) : ISpanFormattable, ISpanParsable<ConnectionId>
{
    internal static readonly uint ProcessInstance = (uint)RandomNumberGenerator.GetInt32(int.MaxValue) | 0x8000_0000u;
    private static long s_next;

    /// <summary>No connection (sequence 0): the value of "no target" and "no connection yet" fields.</summary>
    public static ConnectionId None => default;

    /// <summary>True for <see cref="None"/>.</summary>
    public bool IsNone => Sequence == 0;

    internal static ConnectionId Next() => new(ProcessInstance, (ulong)Interlocked.Increment(ref s_next));

    /// <summary>The id as <c>iiiiiiii-n</c> (instance in 8 hex digits, sequence in decimal); empty for <see cref="None"/>.</summary>
    public override string ToString() => IsNone ? "" : $"{Instance:x8}-{Sequence}";

    /// <summary>Same as <see cref="ToString()"/>: the id has one format and ignores <paramref name="format"/> and <paramref name="formatProvider"/>.</summary>
    public string ToString(string? format, IFormatProvider? formatProvider) => ToString();

    /// <summary>Writes <see cref="ToString()"/> into <paramref name="destination"/> without allocating; false when it does not fit.</summary>
    public bool TryFormat(Span<char> destination, out int charsWritten, ReadOnlySpan<char> format, IFormatProvider? provider)
        => IsNone ? (charsWritten = 0) == 0 : destination.TryWrite(CultureInfo.InvariantCulture, $"{Instance:x8}-{Sequence}", out charsWritten);

    /// <summary>Parses the <c>iiiiiiii-n</c> form; false for anything else, including the empty text of <see cref="None"/>.</summary>
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

    /// <summary>As <see cref="TryParse(ReadOnlySpan{char}, out ConnectionId)"/>; <paramref name="provider"/> is ignored (<see cref="IParsable{TSelf}"/>).</summary>
    public static bool TryParse([NotNullWhen(true)] string? s, IFormatProvider? provider, out ConnectionId result) => TryParse(s.AsSpan(), out result);

    /// <summary>As <see cref="TryParse(ReadOnlySpan{char}, out ConnectionId)"/>; <paramref name="provider"/> is ignored (<see cref="ISpanParsable{TSelf}"/>).</summary>
    public static bool TryParse(ReadOnlySpan<char> s, IFormatProvider? provider, out ConnectionId result) => TryParse(s, out result);

    /// <summary>As <see cref="Parse(string)"/>; <paramref name="provider"/> is ignored (<see cref="IParsable{TSelf}"/>).</summary>
    /// <exception cref="ArgumentNullException"><paramref name="s"/> is null.</exception>
    /// <exception cref="FormatException"><paramref name="s"/> is not a connection id.</exception>
    public static ConnectionId Parse(string s, IFormatProvider? provider) => Parse(s);

    /// <summary>As <see cref="Parse(string)"/>; <paramref name="provider"/> is ignored (<see cref="ISpanParsable{TSelf}"/>).</summary>
    /// <exception cref="FormatException"><paramref name="s"/> is not a connection id.</exception>
    public static ConnectionId Parse(ReadOnlySpan<char> s, IFormatProvider? provider) =>
        TryParse(s, out var id) ? id : throw new FormatException($"'{s}' is not a connection id (expected iiiiiiii-n, e.g. 3fa2c1d9-42)");

    /// <summary>Parses the <c>iiiiiiii-n</c> form.</summary>
    /// <exception cref="ArgumentNullException"><paramref name="text"/> is null (a missing value, not a malformed one; as <c>int.Parse</c>).</exception>
    /// <exception cref="FormatException"><paramref name="text"/> is not a connection id.</exception>
    public static ConnectionId Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        return TryParse(text, out var id) ? id : throw new FormatException($"'{text}' is not a connection id (expected iiiiiiii-n, e.g. 3fa2c1d9-42)");
    }
}
