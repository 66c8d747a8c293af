namespace Ferry.Framing;

/// <summary>What one call to <see cref="IFrameDecoder.Decode"/> produced.</summary>
public enum DecodeStatus
{
    /// <summary>No whole frame at the front of the input yet; call again when more bytes arrive.</summary>
    NeedMoreData,

    /// <summary>One frame was decoded and the input was advanced past it.</summary>
    Frame,

    /// <summary>
    /// The input is invalid and the decoder's policy is <see cref="FrameErrorPolicy.Skip"/>: bytes were
    /// discarded (the input was advanced) and decoding can go on. The error is reported for counting.
    /// </summary>
    Skipped,

    /// <summary>The input is invalid and cannot be resynchronised; the connection must be closed.</summary>
    Error,
}
