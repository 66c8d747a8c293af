using System.Buffers;

namespace Ferry.Framing;

/// <summary>
/// Writes one message in a framing's wire form. Encoders hold no per-connection state and are shared.
/// </summary>
public interface IFrameEncoder
{
    /// <summary>The exact number of bytes <see cref="Encode"/> writes for a payload of this length, so
    /// that a bounded egress queue can admit or refuse a message before it is written.</summary>
    int GetEncodedLength(int payloadLength);

    /// <summary>Writes the framed message. Throws <see cref="FramingException"/> when the payload cannot be
    /// framed (longer than the length field can say, or than <c>MaxFrameBytes</c>).</summary>
    void Encode(ReadOnlySpan<byte> payload, in FrameFields fields, IBufferWriter<byte> output);
}
