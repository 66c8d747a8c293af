using Ferry.Bridge;

namespace BridgePipeline;

/// <summary>
/// The hardware's <c>dst</c>: checks that the frames coming back are, in order, the analysed forms of
/// the frames the generator sent: payload, flags and channel.
/// </summary>
public sealed class FrameVerifier(FrameGenerator generator)
{
    /// <summary>Frames received back.</summary>
    public int Received { get; private set; }

    /// <summary>Frames that were not what was expected.</summary>
    public int Mismatches { get; private set; }

    /// <summary>The first mismatch, described.</summary>
    public string? FirstMismatch { get; private set; }

    /// <summary>Checks the next frame.</summary>
    public void Check(Frame frame)
    {
        var expected = FrameAnalysis.Process(generator.Make(Received));
        if (!frame.Payload.Span.SequenceEqual(expected.Payload.Span) || frame.Flags != expected.Flags || frame.Channel != expected.Channel || frame.Error != expected.Error)
        {
            Mismatches++;
            FirstMismatch ??= $"frame {Received}: {frame.Payload.Length} bytes, flags {frame.Flags}, channel {frame.Channel}; expected {expected.Payload.Length} bytes, flags {expected.Flags}, channel {expected.Channel}";
        }
        Received++;
    }
}
