namespace Ferry.Framing;

/// <summary>
/// One way a byte stream becomes messages, in both directions: a factory of per-connection decoders
/// and a shared encoder, with the limits and error policy that go with them. Adding a framing is one
/// class implementing this, registered by name in a <see cref="FramingRegistry"/>.
/// </summary>
/// <remarks>A framing is immutable and may be shared by many stages; only its decoders hold state.</remarks>
public interface IFraming
{
    /// <summary>The canonical spec string, e.g. <c>raw</c> or <c>length,bytes=2,endian=big</c>.</summary>
    string Spec { get; }

    /// <summary>The largest payload a frame may carry (default 1 MiB).</summary>
    int MaxFrameBytes { get; }

    /// <summary>What a decoder does with input it cannot decode: close the connection (the default) or skip to the next frame.</summary>
    FrameErrorPolicy OnError { get; }

    /// <summary>
    /// The most bytes a frame occupies on the wire beside its payload (header, delimiters, stripped
    /// bytes). A decoder never returns <see cref="DecodeStatus.NeedMoreData"/> with more than
    /// <c>MaxFrameBytes + FrameOverheadBytes</c> bytes unconsumed, so a stage can use that sum as its
    /// backstop against a decoder that buffers without bound.
    /// </summary>
    int FrameOverheadBytes => 0;

    /// <summary>True for <c>raw</c>: every receive is one packet and nothing is buffered between receives.</summary>
    bool IsRaw => false;

    /// <summary>The header fields this framing carries beside the payload, in wire order; empty for most framings.</summary>
    IReadOnlyList<FrameField> HeaderFields => [];

    /// <summary>A new decoder for one connection. Decoders keep per-connection state and are not thread-safe.</summary>
    IFrameDecoder CreateDecoder();

    /// <summary>The encoder for egress, stateless and shared by every connection (safe to use from any thread).</summary>
    IFrameEncoder Encoder { get; }
}
