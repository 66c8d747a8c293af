using System.Buffers;
using System.Buffers.Binary;
using System.Text;

namespace CardGateway;

/// <summary>
/// A small ISO 8583 (1987) codec: 4 ASCII digits of MTI, an 8-byte primary bitmap (bit 1 = field 1,
/// most significant bit first), then the present fields in order, ASCII. Only the fields this gateway
/// uses are known; the 2-byte length prefix is the stage's <c>u16be</c> framing, not the codec's.
/// </summary>
public static class IsoCodec
{
    private enum Kind { Numeric, AlphaNumeric, AnyPrintable }

    // Field number → (fixed length, or 0 for LLVAR with a 2-digit length up to Max), content.
    private static readonly Dictionary<int, (int Length, int Max, Kind Kind)> Known = new()
    {
        [2] = (0, 19, Kind.Numeric),        // primary account number, LLVAR
        [3] = (6, 6, Kind.Numeric),         // processing code
        [4] = (12, 12, Kind.Numeric),       // amount, minor units
        [7] = (10, 10, Kind.Numeric),       // transmission date and time MMDDhhmmss
        [11] = (6, 6, Kind.Numeric),        // system trace audit number
        [39] = (2, 2, Kind.AlphaNumeric),   // response code
        [41] = (8, 8, Kind.AnyPrintable),   // card acceptor terminal id
    };

    /// <summary>The requests the gateway takes: authorization, financial, reversal, network management.</summary>
    public static readonly IReadOnlySet<string> RequestMtis = new HashSet<string> { "0100", "0200", "0400", "0800" };

    /// <summary>The responses to <see cref="RequestMtis"/> (what a terminal decodes).</summary>
    public static readonly IReadOnlySet<string> ResponseMtis = new HashSet<string> { "0110", "0210", "0410", "0810" };

    private const int BitmapBytes = 8;

    /// <summary>Decodes one message (the payload of one frame) whose MTI is one of <paramref name="allowedMtis"/>; on failure says what and where.</summary>
    public static bool TryDecode(ReadOnlySpan<byte> message, IReadOnlySet<string> allowedMtis, out IsoMessage? decoded, out IsoViolation? violation)
    {
        decoded = null;
        if (message.Length < 4 || !IsDigits(message[..4]))
        {
            violation = new("invalid_mti", $"the message must start with a 4-digit MTI, got {Printable(message[..Math.Min(4, message.Length)])}");
            return false;
        }
        var mti = Encoding.ASCII.GetString(message[..4]);
        if (!allowedMtis.Contains(mti))
        {
            violation = new("invalid_mti", $"MTI {mti} is not allowed here (allowed: {string.Join(", ", allowedMtis)})");
            return false;
        }
        if (message.Length < 4 + BitmapBytes)
        {
            violation = new("bad_bitmap", $"the bitmap needs {BitmapBytes} bytes after the MTI, {message.Length - 4} are there");
            return false;
        }
        var bitmap = BinaryPrimitives.ReadUInt64BigEndian(message[4..]);
        if ((bitmap & (1UL << 63)) != 0)
        {
            violation = new("bad_bitmap", "bit 1 (a secondary bitmap) is set; only the primary bitmap is supported");
            return false;
        }

        var fields = new Dictionary<int, string>();
        var at = 4 + BitmapBytes;
        for (var field = 2; field <= 64; field++)
        {
            if ((bitmap & (1UL << (64 - field))) == 0)
                continue;
            if (!Known.TryGetValue(field, out var spec))
            {
                violation = new("unsupported_field", $"field {field} is present but not supported (supported: {string.Join(", ", Known.Keys)})");
                return false;
            }
            var length = spec.Length;
            if (length == 0)
            {
                if (message.Length < at + 2 || !IsDigits(message.Slice(at, 2)))
                {
                    violation = new("bad_field", $"field {field} at byte {at}: expected a 2-digit length");
                    return false;
                }
                length = (message[at] - '0') * 10 + (message[at + 1] - '0');
                at += 2;
                if (length > spec.Max)
                {
                    violation = new("bad_field", $"field {field} at byte {at}: length {length} is over its maximum {spec.Max}");
                    return false;
                }
            }
            if (message.Length < at + length)
            {
                violation = new("bad_field", $"field {field} at byte {at}: needs {length} bytes, {message.Length - at} are left");
                return false;
            }
            var value = message.Slice(at, length);
            if (!Fits(value, spec.Kind))
            {
                violation = new("bad_field", $"field {field} at byte {at}: {Printable(value)} is not {spec.Kind.ToString().ToLowerInvariant()}");
                return false;
            }
            fields[field] = Encoding.ASCII.GetString(value);
            at += length;
        }
        if (at != message.Length)
        {
            violation = new("trailing_bytes", $"{message.Length - at} bytes after the last field (at byte {at})");
            return false;
        }
        decoded = new IsoMessage(mti, fields);
        violation = null;
        return true;
    }

    /// <summary>Encodes a message (without the 2-byte length, which the stage's framing writes).</summary>
    /// <exception cref="ArgumentException">A field is unknown or its value does not fit it.</exception>
    public static byte[] Encode(IsoMessage message)
    {
        if (message.Mti.Length != 4 || !message.Mti.All(char.IsAsciiDigit))
            throw new ArgumentException($"MTI '{message.Mti}' is not 4 digits", nameof(message));
        var output = new ArrayBufferWriter<byte>(64);
        output.Write(Encoding.ASCII.GetBytes(message.Mti));
        ulong bitmap = 0;
        foreach (var field in message.Fields.Keys)
            bitmap |= 1UL << (64 - field);
        BinaryPrimitives.WriteUInt64BigEndian(output.GetSpan(BitmapBytes), bitmap);
        output.Advance(BitmapBytes);
        foreach (var (field, value) in message.Fields.OrderBy(f => f.Key))
        {
            if (!Known.TryGetValue(field, out var spec))
                throw new ArgumentException($"field {field} is not supported", nameof(message));
            var bytes = Encoding.ASCII.GetBytes(value);
            if (spec.Length == 0 ? bytes.Length > spec.Max : bytes.Length != spec.Length || !Fits(bytes, spec.Kind))
                throw new ArgumentException($"field {field}: '{value}' does not fit ({(spec.Length == 0 ? $"up to {spec.Max}" : spec.Length.ToString())} {spec.Kind})", nameof(message));
            if (spec.Length == 0)
                output.Write(Encoding.ASCII.GetBytes(bytes.Length.ToString("D2")));
            output.Write(bytes);
        }
        return output.WrittenSpan.ToArray();
    }

    private static bool IsDigits(ReadOnlySpan<byte> bytes) => !bytes.ContainsAnyExceptInRange((byte)'0', (byte)'9');

    private static bool Fits(ReadOnlySpan<byte> value, Kind kind) => kind switch
    {
        Kind.Numeric => IsDigits(value),
        Kind.AlphaNumeric => value.IndexOfAnyExcept(AlphaNumeric) < 0,
        _ => !value.ContainsAnyExceptInRange((byte)0x20, (byte)0x7E),
    };

    private static readonly SearchValues<byte> AlphaNumeric = SearchValues.Create("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"u8);

    private static string Printable(ReadOnlySpan<byte> bytes) => $"'{Encoding.ASCII.GetString(bytes).ReplaceLineEndings("?")}' (hex {Convert.ToHexString(bytes)})";
}
