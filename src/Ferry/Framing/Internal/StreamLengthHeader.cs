using System.Buffers.Binary;

namespace Ferry.Framing.Internal;

/// <summary>The <c>mux</c> framing's 8 bytes, big-endian: stream id u32, payload length u32.</summary>
internal readonly struct StreamLengthHeader : IFrameHeader
{
    public const int Size = 8;

    public int Length => Size;

    public string? Read(ReadOnlySpan<byte> header, out long frameLength, out int payloadOffset, out FrameFields fields)
    {
        fields = new FrameFields(StreamId: BinaryPrimitives.ReadUInt32BigEndian(header));
        frameLength = Size + (long)BinaryPrimitives.ReadUInt32BigEndian(header[4..]);
        payloadOffset = Size;
        return null;
    }
}
