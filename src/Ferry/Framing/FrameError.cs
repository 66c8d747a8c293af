namespace Ferry.Framing;

/// <summary>Why bytes could not be decoded. <see cref="None"/> when there was no error.</summary>
public enum FrameErrorKind
{
    /// <summary>No error.</summary>
    None,
    /// <summary>A frame (declared or found) is larger than <c>max_frame_bytes</c>.</summary>
    Oversize,
    /// <summary>A header field holds a value the framing cannot accept (negative length, not a number).</summary>
    BadHeader,
    /// <summary>The stream ended inside a frame.</summary>
    Truncated,
    /// <summary>The peer broke the conversation a session framing holds (handshake, commands).</summary>
    Protocol,
}

/// <summary>A decoding error: its kind and a short human-readable detail (allocated only on error).</summary>
/// <param name="Kind">What went wrong; <see cref="FrameErrorKind.None"/> when nothing did.</param>
/// <param name="Detail">A short description for logs and events, e.g. the bad length; null only in <see cref="None"/>.</param>
public readonly record struct FrameError(FrameErrorKind Kind, string Detail)
{
    /// <summary>No error (kind <see cref="FrameErrorKind.None"/>).</summary>
    public static FrameError None => default;

    /// <summary><c>none</c>, or the kind and the detail.</summary>
    public override string ToString() => Kind == FrameErrorKind.None ? "none" : $"{Kind}: {Detail}";
}
