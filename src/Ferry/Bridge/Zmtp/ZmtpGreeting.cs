using System.Buffers;

namespace Ferry.Bridge.Zmtp;

/// <summary>
/// The fixed 64-octet ZMTP 3.x greeting (RFC 23 / RFC 37): signature (0xFF, 8 padding octets, 0x7F),
/// version major and minor, a 20-octet zero-padded mechanism name, the as-server octet and 31 octets
/// of filler.
/// </summary>
internal readonly struct ZmtpGreeting
{
    public const int Length = 64;
    public const byte Major = 3;
    public const byte Minor = 1;
    private const int SignatureLength = 10;
    private const int MechanismOffset = 12;
    private const int MechanismLength = 20;
    private const int AsServerOffset = 32;

    public ZmtpGreeting(byte versionMajor, byte versionMinor, bool isNullMechanism, bool asServer)
    {
        VersionMajor = versionMajor;
        VersionMinor = versionMinor;
        IsNullMechanism = isNullMechanism;
        AsServer = asServer;
    }

    public byte VersionMajor { get; }

    public byte VersionMinor { get; }

    /// <summary>True when the peer asked for the NULL security mechanism, the only one the bridge speaks.</summary>
    public bool IsNullMechanism { get; }

    public bool AsServer { get; }

    /// <summary>Writes Ferry's greeting: ZMTP 3.1, NULL mechanism, as-server 0 (NULL has no server role).</summary>
    public static void Write(IBufferWriter<byte> output)
    {
        Span<byte> span = output.GetSpan(Length)[..Length];
        span.Clear();
        span[0] = 0xFF;
        // Padding is not significant in ZMTP 3; libzmq puts (identity length + 1) there for ZMTP 1.0
        // peers, so a 1 in the last octet reads as an empty identity to the oldest parsers too.
        span[8] = 0x01;
        span[9] = 0x7F;
        span[10] = Major;
        span[11] = Minor;
        "NULL"u8.CopyTo(span[MechanismOffset..]);
        output.Advance(Length);
    }

    /// <summary>
    /// Parses a peer's greeting from the front of <paramref name="input"/>. Fails fast (throws
    /// <see cref="ZmtpProtocolException"/>) as soon as the signature or the major version is wrong,
    /// because pre-3.0 peers send shorter greetings and would otherwise leave us waiting for 64 octets.
    /// </summary>
    public static bool TryParse(in ReadOnlySequence<byte> input, ref SequencePosition consumed, ref SequencePosition examined, out ZmtpGreeting greeting)
    {
        greeting = default;
        Span<byte> bytes = stackalloc byte[Length];
        int available = (int)Math.Min(input.Length, Length);
        input.Slice(0, available).CopyTo(bytes);

        if (available >= 1 && bytes[0] != 0xFF)
            throw new ZmtpProtocolException($"not a ZMTP peer: greeting starts with 0x{bytes[0]:X2}, expected 0xFF");
        if (available >= SignatureLength && (bytes[9] & 0x01) == 0)
            throw new ZmtpProtocolException("not a ZMTP 3 peer: signature does not end with 0x7F (ZMTP 1.0 peer?)");
        if (available > SignatureLength && bytes[10] < Major)
            throw new ZmtpProtocolException($"ZMTP {bytes[10]}.x peer: only ZMTP 3.0 and 3.1 are spoken");

        if (available < Length)
        {
            examined = input.End;
            return false;
        }

        ReadOnlySpan<byte> mechanism = bytes.Slice(MechanismOffset, MechanismLength);
        bool isNull = mechanism[..4].SequenceEqual("NULL"u8) && !mechanism[4..].ContainsAnyExcept((byte)0);
        greeting = new ZmtpGreeting(bytes[10], bytes[11], isNull, bytes[AsServerOffset] != 0);
        consumed = input.GetPosition(Length);
        examined = consumed;
        return true;
    }
}
