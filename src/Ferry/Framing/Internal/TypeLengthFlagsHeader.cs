using System.Buffers.Binary;

namespace Ferry.Framing.Internal;

/// <summary>The <c>header</c> framing's 8 bytes, big-endian: type u16, payload length u32, flags u16.</summary>
internal readonly struct TypeLengthFlagsHeader : IFrameHeader
{
    public const int Size = 8;

    public int Length => Size;

    public string? Read(ReadOnlySpan<byte> header, out long frameLength, out int payloadOffset, out FrameFields fields)
    {
        fields = new FrameFields(
            MessageType: BinaryPrimitives.ReadUInt16BigEndian(header),
            Flags: BinaryPrimitives.ReadUInt16BigEndian(header[6..]));
        frameLength = Size + (long)BinaryPrimitives.ReadUInt32BigEndian(header[2..]);
        payloadOffset = Size;
        return null;
    }
}
