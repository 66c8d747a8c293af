using System.Buffers;
using System.Buffers.Binary;
using Ferry.Bridge.Zmtp;

namespace Ferry.Bridge.Internal;

/// <summary>
/// Writes one <see cref="Frame"/> as Rogue's four-part ZeroMQ message: flags (2 octets, little-endian),
/// channel (1), error (1), payload (any length, possibly empty).
/// </summary>
internal static class BridgeMessageWriter
{
    // Three short MORE frames of 2, 1 and 1 body octets.
    private const int MetadataLength = (2 + 2) + (2 + 1) + (2 + 1);

    public static long GetEncodedLength(int payloadLength) =>
        MetadataLength + ZmtpFrameHeader.GetEncodedLength(payloadLength) + payloadLength;

    public static void Write(in Frame frame, IBufferWriter<byte> output)
    {
        ReadOnlySpan<byte> payload = frame.Payload.Span;
        Span<byte> span = output.GetSpan(MetadataLength + ZmtpFrameHeader.MaxLength);
        span[0] = ZmtpFrameHeader.MoreFlag;
        span[1] = 2;
        BinaryPrimitives.WriteUInt16LittleEndian(span[2..], frame.Flags);
        span[4] = ZmtpFrameHeader.MoreFlag;
        span[5] = 1;
        span[6] = frame.Channel;
        span[7] = ZmtpFrameHeader.MoreFlag;
        span[8] = 1;
        span[9] = frame.Error;
        int headerLength = new ZmtpFrameHeader(payload.Length, more: false, isCommand: false).Write(span[MetadataLength..]);
        output.Advance(MetadataLength + headerLength);
        if (!payload.IsEmpty)
            output.Write(payload);
    }
}
