using System.Buffers;

namespace Ferry.Framing;

/// <summary>
/// Turns the front of a byte stream into frames, one call at a time (the Bedrock
/// <c>TryParseMessage</c> shape). A decoder instance belongs to one connection and may keep state
/// between calls (a length already read, bytes still to skip); create one per connection with
/// <see cref="IFraming.CreateDecoder"/>.
/// </summary>
/// <remarks>
/// Contract for every implementation:
/// <list type="bullet">
/// <item><c>input</c> holds every unconsumed byte of the stream so far. On <see cref="DecodeStatus.Frame"/>
/// and <see cref="DecodeStatus.Skipped"/> the decoder advances <c>input</c> past what it consumed; on
/// <see cref="DecodeStatus.NeedMoreData"/> it may advance it past bytes it has already taken into its
/// own state (a header, skipped garbage) but never past bytes of an unfinished payload.</item>
/// <item><c>payload</c> is a slice of the caller's input, valid until the caller reuses that memory:
/// decoding never copies the payload.</item>
/// <item>No allocation per frame; errors may allocate their detail text.</item>
/// <item>A frame larger than the framing's <c>MaxFrameBytes</c> is an error of kind
/// <see cref="FrameErrorKind.Oversize"/>, detected as early as the framing allows (length framings
/// before the payload arrives, delimiter framings once more than the maximum is buffered).</item>
/// </list>
/// </remarks>
public interface IFrameDecoder
{
    /// <summary>Decodes at most one frame from the front of <paramref name="input"/> (see the contract above).</summary>
    /// <param name="input">Every unconsumed byte of the stream; advanced past what was consumed.</param>
    /// <param name="payload">On <see cref="DecodeStatus.Frame"/>, the frame's payload, a slice of the caller's input.</param>
    /// <param name="fields">On <see cref="DecodeStatus.Frame"/>, the header fields the framing carries; zero otherwise.</param>
    /// <param name="error">On <see cref="DecodeStatus.Skipped"/> and <see cref="DecodeStatus.Error"/>, what was wrong.</param>
    DecodeStatus Decode(ref ReadOnlySequence<byte> input, out ReadOnlySequence<byte> payload, out FrameFields fields, out FrameError error);

    /// <summary>
    /// Called once when the stream has ended, with whatever is left (tokio-util's <c>decode_eof</c>).
    /// Returns <see cref="DecodeStatus.Frame"/> for a last frame, <see cref="DecodeStatus.NeedMoreData"/>
    /// when nothing is left, or <see cref="DecodeStatus.Error"/> (kind <see cref="FrameErrorKind.Truncated"/>)
    /// when the leftover is reported instead of delivered. Called repeatedly until it stops returning Frame.
    /// </summary>
    /// <param name="input">What is left of the stream; advanced past what was consumed.</param>
    /// <param name="payload">On <see cref="DecodeStatus.Frame"/>, the last frame's payload, a slice of the caller's input.</param>
    /// <param name="fields">On <see cref="DecodeStatus.Frame"/>, the header fields the framing carries; zero otherwise.</param>
    /// <param name="error">On <see cref="DecodeStatus.Error"/>, what was wrong.</param>
    DecodeStatus DecodeEnd(ref ReadOnlySequence<byte> input, out ReadOnlySequence<byte> payload, out FrameFields fields, out FrameError error);
}
