using System.Buffers;
using System.Buffers.Binary;

namespace Ferry.Bridge.Zmtp;

/// <summary>
/// The header of one ZMTP 3 frame: a flags octet (bit 0 MORE, bit 1 LONG, bit 2 COMMAND, the rest
/// reserved and zero) and the body size, one octet for short frames or eight network-order octets for
/// long ones.
/// </summary>
internal readonly struct ZmtpFrameHeader
{
    public const byte MoreFlag = 0x01;
    public const byte LongFlag = 0x02;
    public const byte CommandFlag = 0x04;
    private const byte ReservedMask = 0xF8;
    public const int ShortLength = 2;
    public const int LongLength = 9;
    public const int MaxLength = LongLength;

    public ZmtpFrameHeader(long bodyLength, bool more, bool isCommand)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(bodyLength);
        BodyLength = bodyLength;
        More = more;
        IsCommand = isCommand;
    }

    public long BodyLength { get; }

    /// <summary>Another frame of the same message follows (never set on commands).</summary>
    public bool More { get; }

    public bool IsCommand { get; }

    /// <summary>The header's size on the wire: long form only when the body needs it, as RFC 23 asks.</summary>
    public static int GetEncodedLength(long bodyLength) => bodyLength > byte.MaxValue ? LongLength : ShortLength;

    public int Write(Span<byte> destination)
    {
        byte flags = (byte)((More ? MoreFlag : 0) | (IsCommand ? CommandFlag : 0));
        if (BodyLength > byte.MaxValue)
        {
            destination[0] = (byte)(flags | LongFlag);
            BinaryPrimitives.WriteInt64BigEndian(destination[1..], BodyLength);
            return LongLength;
        }

        destination[0] = flags;
        destination[1] = (byte)BodyLength;
        return ShortLength;
    }

    public void Write(IBufferWriter<byte> output) => output.Advance(Write(output.GetSpan(MaxLength)));

    /// <summary>
    /// Reads a frame header from the front of <paramref name="input"/> without consuming it.
    /// Returns false when more octets are needed; throws <see cref="ZmtpProtocolException"/> for reserved
    /// flags, a command with MORE, or a size that does not fit a signed 64-bit length.
    /// </summary>
    public static bool TryRead(in ReadOnlySequence<byte> input, out ZmtpFrameHeader header, out int headerLength)
    {
        header = default;
        headerLength = 0;
        if (input.IsEmpty)
            return false;

        // The header is read from the first segment when it holds it, else from a copy: a header may
        // straddle segments, and a sequence may start with an empty segment.
        scoped ReadOnlySpan<byte> head = input.FirstSpan;
        Span<byte> copy = stackalloc byte[LongLength];
        if (head.Length < LongLength && head.Length < input.Length)
        {
            int n = (int)Math.Min(input.Length, LongLength);
            input.Slice(0, n).CopyTo(copy);
            head = copy[..n];
        }

        byte flags = head[0];
        if ((flags & ReservedMask) != 0)
            throw new ZmtpProtocolException($"frame flags 0x{flags:X2} set reserved bits");
        bool more = (flags & MoreFlag) != 0;
        bool command = (flags & CommandFlag) != 0;
        if (command && more)
            throw new ZmtpProtocolException("a command frame must not have the MORE flag");

        long size;
        if ((flags & LongFlag) != 0)
        {
            if (head.Length < LongLength)
                return false;
            ulong raw = BinaryPrimitives.ReadUInt64BigEndian(head.Slice(1, 8));
            if (raw > long.MaxValue)
                throw new ZmtpProtocolException($"frame size {raw} is too large");
            size = (long)raw;
            headerLength = LongLength;
        }
        else
        {
            if (head.Length < ShortLength)
                return false;
            size = head[1];
            headerLength = ShortLength;
        }

        header = new ZmtpFrameHeader(size, more, command);
        return true;
    }
}
