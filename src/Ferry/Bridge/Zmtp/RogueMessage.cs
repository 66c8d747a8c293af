using System.Buffers;
using System.Buffers.Binary;

namespace Ferry.Bridge.Zmtp;

/// <summary>
/// Rogue's stream frame as a ZeroMQ message: four parts, flags (2 octets, little-endian), channel (1),
/// error (1) and the payload (any length, possibly empty). The wire layout and the shape rules shared by
/// the <c>zmtp</c> framing and tests.
/// </summary>
internal static class RogueMessage
{
    public const int PartCount = 4;

    /// <summary>The part that carries the payload.</summary>
    public const int PayloadPart = 3;

    /// <summary>The three metadata parts on the wire: short MORE frames of 2, 1 and 1 body octets.</summary>
    public const int MetadataLength = (2 + 2) + (2 + 1) + (2 + 1);

    /// <summary>The body length a metadata part must have (2, 1, 1); -1 for the payload part.</summary>
    public static int ExpectedLength(int part) => part switch { 0 => 2, 1 or 2 => 1, _ => -1 };

    /// <summary>
    /// Why a part of this length cannot be part <paramref name="part"/> (0-based) of a Rogue message, or
    /// null when it can. Part counts are checked by the caller, which knows where the message ends.
    /// </summary>
    public static string? CheckPartLength(int part, long bodyLength)
    {
        var expected = ExpectedLength(part);
        return expected >= 0 && bodyLength != expected ? $"part {part} is {bodyLength} bytes, expected {expected}" : null;
    }

    public static long GetEncodedLength(long payloadLength) =>
        MetadataLength + ZmtpFrameHeader.GetEncodedLength(payloadLength) + payloadLength;

    /// <summary>The largest <see cref="WriteHeader"/>: the metadata parts and a long payload-part header.</summary>
    public const int MaxHeaderLength = MetadataLength + ZmtpFrameHeader.MaxLength;

    public static void Write(ReadOnlySpan<byte> payload, ushort flags, byte channel, byte error, IBufferWriter<byte> output)
    {
        output.Advance(WriteHeader(payload.Length, flags, channel, error, output.GetSpan(MaxHeaderLength)));
        if (!payload.IsEmpty)
            output.Write(payload);
    }

    /// <summary>Writes everything of the message that precedes the payload's bytes (the metadata parts and the payload part's header); returns its length.</summary>
    public static int WriteHeader(int payloadLength, ushort flags, byte channel, byte error, Span<byte> span)
    {
        span[0] = ZmtpFrameHeader.MoreFlag;
        span[1] = 2;
        BinaryPrimitives.WriteUInt16LittleEndian(span[2..], flags);
        span[4] = ZmtpFrameHeader.MoreFlag;
        span[5] = 1;
        span[6] = channel;
        span[7] = ZmtpFrameHeader.MoreFlag;
        span[8] = 1;
        span[9] = error;
        return MetadataLength + new ZmtpFrameHeader(payloadLength, more: false, isCommand: false).Write(span[MetadataLength..]);
    }
}
