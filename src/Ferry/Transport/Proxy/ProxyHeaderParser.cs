using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using Ferry.Stages;

namespace Ferry.Transport.Proxy;

/// <summary>How far a PROXY protocol header has come in the bytes seen so far.</summary>
internal enum ProxyParseStatus
{
    /// <summary>Everything so far fits a header; more bytes are needed.</summary>
    NeedMore,
    /// <summary>A whole, valid header: <see cref="ProxyHeader"/> and its length are known.</summary>
    Done,
    /// <summary>The bytes are not an acceptable header; the error says what, where and what is allowed.</summary>
    Invalid,
}

/// <summary>
/// What a PROXY protocol header said. <see cref="Source"/> is null when the proxy speaks for itself (v2
/// <c>LOCAL</c>, a health check; v1 <c>UNKNOWN</c>; v2 <c>UNSPEC</c>): the connection's own peer stands.
/// </summary>
internal readonly record struct ProxyHeader(int Version, IPEndPoint? Source, IPEndPoint? Destination);

/// <summary>
/// The PROXY protocol, versions 1 (text) and 2 (binary), as HAProxy specifies it: a pure parser over
/// the bytes received so far, so the stage can feed it one read at a time (or one byte at a time) and
/// stop at the first byte that cannot belong to a header. Every length is bounded before it is trusted.
/// </summary>
internal static class ProxyHeaderParser
{
    /// <summary>The longest v1 line, CRLF included (the specification's 107 bytes).</summary>
    public const int V1MaxBytes = 107;

    /// <summary>The shortest header of either version (<c>"PROXY UNKNOWN\r\n"</c>); reading this much never reads past one.</summary>
    public const int MinBytes = 15;

    /// <summary>The fixed part of a v2 header: signature, version/command, family/protocol, length.</summary>
    public const int V2FixedBytes = 16;

    /// <summary>
    /// The most a v2 header may carry after its fixed part. Addresses take at most 216 bytes (UNIX); the
    /// rest is TLVs, which load balancers keep to a few hundred bytes. Longer is refused rather than buffered.
    /// </summary>
    public const int V2MaxPayloadBytes = 4096;

    /// <summary>The most bytes a header can take: what a reader must be ready to hold.</summary>
    public const int MaxBytes = V2FixedBytes + V2MaxPayloadBytes;

    private static ReadOnlySpan<byte> V1Prefix => "PROXY "u8;

    private static ReadOnlySpan<byte> V2Signature => [0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A];

    /// <summary>Parses a header at the start of <paramref name="input"/>, accepting the versions <paramref name="accepted"/> allows.</summary>
    /// <param name="input">The bytes received so far.</param>
    /// <param name="accepted">Which versions are allowed (not <see cref="ProxyProtocol.Off"/>).</param>
    /// <param name="header">The header when <see cref="ProxyParseStatus.Done"/>.</param>
    /// <param name="length">Bytes the header takes when <see cref="ProxyParseStatus.Done"/>; what follows is the client's.</param>
    /// <param name="error">Why the bytes are refused when <see cref="ProxyParseStatus.Invalid"/>.</param>
    public static ProxyParseStatus Parse(ReadOnlySpan<byte> input, ProxyProtocol accepted, out ProxyHeader header, out int length, out string? error)
    {
        header = default;
        length = 0;
        error = null;
        if (input.IsEmpty)
            return ProxyParseStatus.NeedMore;
        var v1 = Matches(input, V1Prefix);
        var v2 = Matches(input, V2Signature);
        if (!v1 && !v2)
        {
            error = $"expected a PROXY protocol {Versions(accepted)} header, got {Show(input, 16)}";
            return ProxyParseStatus.Invalid;
        }
        if (v1 && input.Length >= V1Prefix.Length || v2 && input.Length >= V2Signature.Length)
        {
            if (v1 && accepted == ProxyProtocol.V2 || v2 && accepted == ProxyProtocol.V1)
            {
                error = $"a PROXY protocol v{(v1 ? 1 : 2)} header, but only v{(v1 ? 2 : 1)} is accepted (proxy_protocol {accepted.ToString().ToLowerInvariant()})";
                return ProxyParseStatus.Invalid;
            }
        }
        return v1 ? ParseV1(input, out header, out length, out error) : ParseV2(input, out header, out length, out error);
    }

    /// <summary>
    /// How many more bytes certainly belong to the header whose first bytes are <paramref name="soFar"/>,
    /// so a reader that must not take a byte past it (the TLS handshake follows) can read exactly that
    /// many; 0 when the header is complete or already invalid.
    /// </summary>
    public static int BytesWanted(ReadOnlySpan<byte> soFar, ProxyProtocol accepted)
    {
        // Fewer bytes than the shortest header may already be wrong (a bad signature, "PROXY TCP9 x\r\n"):
        // a reader that waited for the shortest header's length would refuse it only at the header timeout.
        if (soFar.Length < MinBytes)
            return Parse(soFar, accepted, out _, out _, out _) == ProxyParseStatus.Invalid ? 0 : MinBytes - soFar.Length;
        if (Parse(soFar, accepted, out _, out _, out _) != ProxyParseStatus.NeedMore)
            return 0;
        if (Matches(soFar, V2Signature) && soFar.Length >= V2FixedBytes)
            return V2FixedBytes + BinaryPrimitives.ReadUInt16BigEndian(soFar[14..]) - soFar.Length;
        if (soFar.Length < V2FixedBytes && Matches(soFar, V2Signature))
            return V2FixedBytes - soFar.Length;
        // v1: the line ends at CRLF, which only a byte at a time can find without reading past it.
        return 1;
    }

    /// <summary>True when <paramref name="input"/> begins with a whole PROXY signature (v1's <c>"PROXY "</c> or v2's twelve bytes).</summary>
    public static bool StartsWithSignature(ReadOnlySpan<byte> input) =>
        input.StartsWith(V1Prefix) || input.StartsWith(V2Signature);

    /// <summary>
    /// True when <paramref name="input"/> is too short to tell: all of it is the beginning of a signature
    /// (<c>"PRO"</c>, <c>"\r\n"</c>), so the next bytes decide whether a header is coming.
    /// </summary>
    public static bool MayBeginSignature(ReadOnlySpan<byte> input) =>
        input.Length < V1Prefix.Length && V1Prefix.StartsWith(input) || input.Length < V2Signature.Length && V2Signature.StartsWith(input);

    private static ProxyParseStatus ParseV1(ReadOnlySpan<byte> input, out ProxyHeader header, out int length, out string? error)
    {
        header = default;
        length = 0;
        error = null;
        var window = input[..Math.Min(input.Length, V1MaxBytes)];
        var end = window.IndexOf("\r\n"u8);
        // A lone LF, or a byte no v1 line may hold, is refused at once rather than at 107 bytes, and refused
        // the same when the CRLF came in the same read: the verdict must not depend on how the bytes were cut.
        // Only a CR that is the last byte so far may still become the CRLF.
        var content = end < 0 ? window : window[..end];
        var bad = content.IndexOfAnyExceptInRange((byte)0x20, (byte)0x7E);
        if (bad >= 0 && !(end < 0 && window[bad] == (byte)'\r' && bad == window.Length - 1))
        {
            error = $"PROXY v1 header has byte 0x{window[bad]:X2} at offset {bad}; only printable ASCII ending in CRLF is allowed";
            return ProxyParseStatus.Invalid;
        }
        if (end < 0)
        {
            if (input.Length >= V1MaxBytes)
            {
                error = $"PROXY v1 header has no CRLF within {V1MaxBytes} bytes";
                return ProxyParseStatus.Invalid;
            }
            return ProxyParseStatus.NeedMore;
        }
        length = end + 2;
        var line = System.Text.Encoding.ASCII.GetString(window[V1Prefix.Length..end]);
        var fields = line.Split(' ');
        switch (fields[0])
        {
            case "UNKNOWN":
                // The proxy does not know (or will not say) the client: the connection's own peer stands.
                header = new ProxyHeader(1, null, null);
                return ProxyParseStatus.Done;
            case "TCP4" or "TCP6":
                var family = fields[0] == "TCP4" ? AddressFamily.InterNetwork : AddressFamily.InterNetworkV6;
                if (fields.Length != 5)
                {
                    error = $"PROXY v1 header '{line}' must be '{fields[0]} <source> <destination> <source port> <destination port>' with single spaces";
                    return ProxyParseStatus.Invalid;
                }
                if (!TryAddress(fields[1], family, out var source) || !TryAddress(fields[2], family, out var destination))
                {
                    error = $"PROXY v1 header '{line}' has an address that is not {(family == AddressFamily.InterNetwork ? "IPv4" : "IPv6")} as {fields[0]} requires";
                    return ProxyParseStatus.Invalid;
                }
                if (!TryPort(fields[3], out var sourcePort) || !TryPort(fields[4], out var destinationPort))
                {
                    error = $"PROXY v1 header '{line}' has a port that is not a decimal number from 0 to 65535";
                    return ProxyParseStatus.Invalid;
                }
                header = new ProxyHeader(1, new IPEndPoint(source, sourcePort), new IPEndPoint(destination, destinationPort));
                return ProxyParseStatus.Done;
            default:
                error = $"PROXY v1 header has protocol '{Truncate(fields[0])}'; allowed: TCP4, TCP6, UNKNOWN";
                return ProxyParseStatus.Invalid;
        }
    }

    private static ProxyParseStatus ParseV2(ReadOnlySpan<byte> input, out ProxyHeader header, out int length, out string? error)
    {
        header = default;
        length = 0;
        error = null;
        if (input.Length < V2FixedBytes)
        {
            if (input.Length > 12 && input[12] >> 4 != 2)
                return V2Invalid($"version {input[12] >> 4}; only 2 is defined", out error);
            return ProxyParseStatus.NeedMore;
        }
        var version = input[12] >> 4;
        var command = input[12] & 0x0F;
        var family = input[13] >> 4;
        var protocol = input[13] & 0x0F;
        var payload = BinaryPrimitives.ReadUInt16BigEndian(input[14..]);
        if (version != 2)
            return V2Invalid($"version {version}; only 2 is defined", out error);
        if (command > 1)
            return V2Invalid($"command {command}; allowed: 0 (LOCAL), 1 (PROXY)", out error);
        if (family > 3 || protocol > 2)
            return V2Invalid($"address family {family} / transport {protocol}; allowed: families 0-3, transports 0-2", out error);
        if (payload > V2MaxPayloadBytes)
            return V2Invalid($"{payload} bytes after the fixed part; at most {V2MaxPayloadBytes} are accepted", out error);
        var addressBytes = family switch { 1 => 12, 2 => 36, 3 => 216, _ => 0 };
        // A LOCAL header's addresses, if any, are ignored, but its length must still be honest.
        if (command == 1 && payload < addressBytes)
            return V2Invalid($"{payload} bytes after the fixed part, too few for its {FamilyName(family)} addresses ({addressBytes})", out error);
        if (input.Length < V2FixedBytes + payload)
            return ProxyParseStatus.NeedMore;
        length = V2FixedBytes + payload;
        var body = input.Slice(V2FixedBytes, payload);
        if (command == 1 && !SkipTlvs(body[Math.Min(addressBytes, body.Length)..], out error))
            return ProxyParseStatus.Invalid;
        if (command == 0 || family == 0)
        {
            // LOCAL (the proxy's own health check) or UNSPEC: the connection's own endpoints stand.
            header = new ProxyHeader(2, null, null);
            return ProxyParseStatus.Done;
        }
        if (protocol != 1)
            return V2Invalid($"transport {(protocol == 2 ? "DGRAM" : "UNSPEC")} for a proxied TCP connection; only STREAM is accepted", out error);
        switch (family)
        {
            case 1:
                header = new ProxyHeader(2,
                    new IPEndPoint(new IPAddress(body[..4]), BinaryPrimitives.ReadUInt16BigEndian(body[8..])),
                    new IPEndPoint(new IPAddress(body[4..8]), BinaryPrimitives.ReadUInt16BigEndian(body[10..])));
                return ProxyParseStatus.Done;
            case 2:
                header = new ProxyHeader(2,
                    new IPEndPoint(new IPAddress(body[..16]), BinaryPrimitives.ReadUInt16BigEndian(body[32..])),
                    new IPEndPoint(new IPAddress(body[16..32]), BinaryPrimitives.ReadUInt16BigEndian(body[34..])));
                return ProxyParseStatus.Done;
            default:
                return V2Invalid("address family UNIX; a TCP stage accepts INET, INET6 or UNSPEC", out error);
        }
    }

    /// <summary>Walks the TLVs after the addresses without interpreting them; each must fit in what is left.</summary>
    private static bool SkipTlvs(ReadOnlySpan<byte> tlvs, out string? error)
    {
        var offset = 0;
        while (offset < tlvs.Length)
        {
            if (tlvs.Length - offset < 3)
            {
                error = $"PROXY v2 header has {tlvs.Length - offset} stray bytes where a TLV (type and 2-byte length) should be";
                return false;
            }
            var size = BinaryPrimitives.ReadUInt16BigEndian(tlvs[(offset + 1)..]);
            if (size > tlvs.Length - offset - 3)
            {
                error = $"PROXY v2 TLV of type 0x{tlvs[offset]:X2} claims {size} bytes but only {tlvs.Length - offset - 3} are left in the header";
                return false;
            }
            offset += 3 + size;
        }
        error = null;
        return true;
    }

    private static ProxyParseStatus V2Invalid(string what, out string error)
    {
        error = "PROXY v2 header has " + what;
        return ProxyParseStatus.Invalid;
    }

    private static string FamilyName(int family) => family switch { 1 => "INET", 2 => "INET6", 3 => "UNIX", _ => "UNSPEC" };

    /// <summary>True when <paramref name="input"/> and <paramref name="prefix"/> agree on their common length.</summary>
    private static bool Matches(ReadOnlySpan<byte> input, ReadOnlySpan<byte> prefix)
    {
        var n = Math.Min(input.Length, prefix.Length);
        return input[..n].SequenceEqual(prefix[..n]);
    }

    private static bool TryAddress(string text, AddressFamily family, out IPAddress address)
    {
        address = IPAddress.None;
        if (text.Length == 0 || text.Length > 45)
            return false;
        // IPAddress.TryParse is inet_aton: "1" is 0.0.0.1, "010.0.0.1" is octal 8.0.0.1, and it accepts
        // scope ids. The specification wants exactly four decimal numbers 0-255 without leading zeros
        // (to rule out octal); IPv6 is hex groups, any dotted tail held to the same rule.
        var dotted = family == AddressFamily.InterNetwork ? text : text[(text.LastIndexOf(':') + 1)..];
        if (family == AddressFamily.InterNetwork || dotted.Contains('.'))
        {
            if (!IsCanonicalDottedQuad(dotted))
                return false;
        }
        if (family == AddressFamily.InterNetworkV6 && text.Any(ch => ch != ':' && ch != '.' && !char.IsAsciiHexDigit(ch)))
            return false;
        if (!IPAddress.TryParse(text, out var parsed) || parsed.AddressFamily != family)
            return false;
        address = parsed;
        return true;
    }

    /// <summary>Four decimal numbers 0-255 separated by single dots, none with a leading zero.</summary>
    private static bool IsCanonicalDottedQuad(string text)
    {
        var parts = text.Split('.');
        return parts.Length == 4 && parts.All(part => IsCanonicalDecimal(part, 3, 255));
    }

    /// <summary>Up to <paramref name="digits"/> decimal digits worth at most <paramref name="max"/>, "0" or without a leading zero.</summary>
    private static bool IsCanonicalDecimal(string part, int digits, int max) =>
        part.Length > 0 && part.Length <= digits && part.All(char.IsAsciiDigit) && (part.Length == 1 || part[0] != '0')
        && int.Parse(part, System.Globalization.CultureInfo.InvariantCulture) <= max;

    private static bool TryPort(string text, out int port)
    {
        // Leading zeros are refused as for addresses: the specification forbids them in every number.
        port = 0;
        if (!IsCanonicalDecimal(text, 5, 65535))
            return false;
        port = int.Parse(text, System.Globalization.CultureInfo.InvariantCulture);
        return true;
    }

    private static string Versions(ProxyProtocol accepted) => accepted switch
    {
        ProxyProtocol.V1 => "v1",
        ProxyProtocol.V2 => "v2",
        _ => "v1 or v2",
    };

    /// <summary>The first bytes, printable, for an error message (never the whole input).</summary>
    private static string Show(ReadOnlySpan<byte> input, int max)
    {
        var shown = input[..Math.Min(input.Length, max)];
        var text = new System.Text.StringBuilder("'");
        foreach (var b in shown)
            text.Append(b is >= 0x20 and < 0x7F and not (byte)'\'' ? (char)b : $"\\x{b:X2}");
        return text.Append(input.Length > max ? "'…" : "'").ToString();
    }

    private static string Truncate(string text) => text.Length <= 16 ? text : text[..16] + "…";
}
