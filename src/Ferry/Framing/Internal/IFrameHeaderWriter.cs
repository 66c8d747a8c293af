namespace Ferry.Framing.Internal;

/// <summary>
/// An encoder whose wire form is a header followed by the payload unchanged, so a large message can be
/// written through to the socket from the sender's memory (header, then payload) instead of being
/// copied into the egress buffer first.
/// </summary>
internal interface IFrameHeaderWriter
{
    /// <summary>The largest header any implementation writes.</summary>
    const int MaxHeaderBytes = 64;

    /// <summary>
    /// Writes the header that precedes a payload of <paramref name="payloadLength"/> bytes and returns its
    /// length; header + payload is exactly what <see cref="IFrameEncoder.Encode"/> writes. Throws
    /// <see cref="FramingException"/> when <c>Encode</c> would.
    /// </summary>
    int WriteHeader(int payloadLength, in FrameFields fields, Span<byte> destination);
}
