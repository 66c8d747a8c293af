using System.Buffers;

namespace Ferry.Framing;

/// <summary>
/// Writes one message in a framing's wire form. Encoders hold no per-connection state and are shared:
/// safe to call from any thread.
/// </summary>
public interface IFrameEncoder
{
    /// <summary>The exact number of bytes <see cref="Encode"/> writes for a payload of this length, so
    /// that a bounded egress queue can admit or refuse a message before it is written.</summary>
    /// <param name="payloadLength">The payload's length in bytes.</param>
    int GetEncodedLength(int payloadLength);

    /// <summary>Writes the framed message. Throws <see cref="FramingException"/> when the payload cannot be
    /// framed (longer than the length field can say, or than <c>MaxFrameBytes</c>).</summary>
    /// <param name="payload">The message's bytes; only read during the call.</param>
    /// <param name="fields">Header fields for framings that carry them (<see cref="IFraming.HeaderFields"/>); others ignore them.</param>
    /// <param name="output">Where the framed message is written; the encoder advances it by exactly <see cref="GetEncodedLength"/> bytes.</param>
    void Encode(ReadOnlySpan<byte> payload, in FrameFields fields, IBufferWriter<byte> output);
}
