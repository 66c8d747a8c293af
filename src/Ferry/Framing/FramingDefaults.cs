namespace Ferry.Framing;

/// <summary>Defaults shared by every framing.</summary>
internal static class FramingDefaults
{
    /// <summary>The largest payload a frame may carry unless <c>max_frame_bytes</c> says otherwise: 1 MiB.</summary>
    public const int MaxFrameBytes = 1024 * 1024;
}
