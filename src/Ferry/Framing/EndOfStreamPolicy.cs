namespace Ferry.Framing;

/// <summary>What a delimiter framing does with bytes left at the end of the stream that no delimiter closed.</summary>
public enum EndOfStreamPolicy
{
    /// <summary>Deliver them as a last message (the default: what a line reader does with a last line without <c>\n</c>).</summary>
    Deliver,

    /// <summary>Report them as <see cref="FrameErrorKind.Truncated"/>.</summary>
    Error,
}
