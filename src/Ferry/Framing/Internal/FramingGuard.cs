namespace Ferry.Framing.Internal;

/// <summary>Argument checks shared by the framings' constructors, with messages that name the setting.</summary>
internal static class FramingGuard
{
    public static int MaxFrameBytes(int value) =>
        value > 0 ? value : throw new FramingException($"max_frame_bytes={value}: must be a positive number of bytes");

    public static FrameErrorPolicy OnError(FrameErrorPolicy value) =>
        value is FrameErrorPolicy.Close or FrameErrorPolicy.Skip ? value : throw new FramingException($"on_error={value}: must be close or skip");

    /// <summary>Egress: a payload over the maximum would be refused by the peer's decoder, so refuse it here.</summary>
    public static void PayloadFits(string framing, int payloadLength, int maxFrameBytes)
    {
        if (payloadLength > maxFrameBytes)
            throw new FramingException($"{framing}: a payload of {payloadLength} bytes is over max_frame_bytes={maxFrameBytes}");
    }
}
