namespace Ferry.Framing.Internal;

/// <summary>
/// The fixed-size front of a frame that says how long the frame is: the piece that differs between the
/// length-prefixed framings (<c>length</c>, <c>header</c>, <c>mux</c>, <c>fixed</c>). Implemented by
/// structs so that <see cref="HeaderFrameDecoder{THeader}"/> is specialised per header and the reads inline.
/// </summary>
internal interface IFrameHeader
{
    /// <summary>Bytes at the front of a frame that must be present to learn its size (0 for <c>fixed</c>).</summary>
    int Length { get; }

    /// <summary>
    /// Reads a frame's geometry from its first <see cref="Length"/> bytes: the whole frame's length on the
    /// wire, where its payload starts, and the fields it carries. Returns null when the header is valid,
    /// otherwise why it is not (the error path is the only one that allocates).
    /// </summary>
    string? Read(ReadOnlySpan<byte> header, out long frameLength, out int payloadOffset, out FrameFields fields);
}
