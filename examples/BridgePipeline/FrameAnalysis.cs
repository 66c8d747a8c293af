using Ferry.Bridge;

namespace BridgePipeline;

/// <summary>
/// The analysis process's work on each frame, kept apart from the bridge: here it inverts every bit
/// of the payload and marks the frame analysed (error 0, channel and flags kept), which the hardware
/// side can check exactly.
/// </summary>
public static class FrameAnalysis
{
    /// <summary>The analysed frame for <paramref name="frame"/>.</summary>
    public static Frame Process(Frame frame)
    {
        var source = frame.Payload.Span;
        var result = new byte[source.Length];
        for (var i = 0; i < source.Length; i++)
            result[i] = (byte)~source[i];
        return new Frame(result, frame.Flags, frame.Channel, error: 0);
    }
}
