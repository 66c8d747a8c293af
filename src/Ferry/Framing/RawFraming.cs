using System.Buffers;
using Ferry.Framing.Internal;

namespace Ferry.Framing;

/// <summary>
/// The seed's recv() semantics: every receive is one packet, egress is written as is. There is no
/// boundary to find, so the decoder takes everything it is given and keeps no state.
/// </summary>
public sealed class RawFraming : IFraming, IFrameDecoder, IFrameEncoder
{
    /// <summary>A raw framing with its own packet size limit.</summary>
    /// <param name="maxFrameBytes">The largest packet, in bytes (default 1 MiB); a larger receive is cut into pieces of this size.</param>
    /// <param name="onError">Accepted for uniformity with the other framings: raw input is never invalid.</param>
    /// <exception cref="FramingException"><paramref name="maxFrameBytes"/> is not positive or <paramref name="onError"/> is not a defined value.</exception>
    public RawFraming(int maxFrameBytes = FramingDefaults.MaxFrameBytes, FrameErrorPolicy onError = FrameErrorPolicy.Close)
    {
        MaxFrameBytes = FramingGuard.MaxFrameBytes(maxFrameBytes);
        OnError = FramingGuard.OnError(onError);
        Spec = new SpecText("raw").Common(MaxFrameBytes, OnError);
    }

    /// <summary>The shared <c>raw</c> framing with the defaults: the stages' default framing.</summary>
    public static RawFraming Default { get; } = new();

    /// <inheritdoc/>
    public string Spec { get; }

    /// <inheritdoc/>
    public int MaxFrameBytes { get; }

    /// <inheritdoc/>
    public FrameErrorPolicy OnError { get; }

    /// <inheritdoc/>
    public bool IsRaw => true;

    /// <inheritdoc/>
    public int FrameOverheadBytes => 0;

    /// <inheritdoc/>
    public IFrameDecoder CreateDecoder() => this;

    /// <inheritdoc/>
    public IFrameEncoder Encoder => this;

    /// <summary>Takes all of <paramref name="input"/> as one packet (or its first <see cref="MaxFrameBytes"/> bytes);
    /// <see cref="DecodeStatus.NeedMoreData"/> only when the input is empty. Never an error.</summary>
    /// <inheritdoc cref="IFrameDecoder.Decode" path="/param"/>
    public DecodeStatus Decode(ref ReadOnlySequence<byte> input, out ReadOnlySequence<byte> payload, out FrameFields fields, out FrameError error)
    {
        fields = default;
        error = default;
        if (input.IsEmpty)
        {
            payload = default;
            return DecodeStatus.NeedMoreData;
        }

        // A receive larger than the maximum is cut into maximum-sized packets rather than refused:
        // raw has no frames, so there is nothing to be wrong about.
        if (input.Length > MaxFrameBytes)
        {
            payload = input.Slice(0, MaxFrameBytes);
            input = input.Slice(MaxFrameBytes);
        }
        else
        {
            payload = input;
            input = input.Slice(input.End);
        }
        return DecodeStatus.Frame;
    }

    /// <summary>Same as <see cref="Decode"/>: whatever is left is delivered.</summary>
    /// <inheritdoc cref="IFrameDecoder.DecodeEnd" path="/param"/>
    public DecodeStatus DecodeEnd(ref ReadOnlySequence<byte> input, out ReadOnlySequence<byte> payload, out FrameFields fields, out FrameError error)
        => Decode(ref input, out payload, out fields, out error);

    /// <inheritdoc/>
    public int GetEncodedLength(int payloadLength) => payloadLength;

    /// <summary>Writes the payload as is, whatever its length, with no header fields.</summary>
    /// <inheritdoc cref="IFrameEncoder.Encode" path="/param"/>
    public void Encode(ReadOnlySpan<byte> payload, in FrameFields fields, IBufferWriter<byte> output) => output.Write(payload);

    internal static IFraming Create(FramingSettings settings)
    {
        var (max, onError) = settings.Common();
        return new RawFraming(max, onError);
    }
}
