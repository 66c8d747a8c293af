using System.Buffers;
using Ferry.Framing.Internal;

namespace Ferry.Framing;

/// <summary>
/// The seed's recv() semantics: every receive is one packet, egress is written as is. There is no
/// boundary to find, so the decoder takes everything it is given and keeps no state.
/// </summary>
public sealed class RawFraming : IFraming, IFrameDecoder, IFrameEncoder
{
    /// <param name="maxFrameBytes">The largest packet; a larger receive is cut into pieces of this size.</param>
    /// <param name="onError">Accepted for uniformity with the other framings: raw input is never invalid.</param>
    public RawFraming(int maxFrameBytes = FramingDefaults.MaxFrameBytes, FrameErrorPolicy onError = FrameErrorPolicy.Close)
    {
        MaxFrameBytes = FramingGuard.MaxFrameBytes(maxFrameBytes);
        OnError = FramingGuard.OnError(onError);
        Spec = new SpecText("raw").Common(MaxFrameBytes, OnError);
    }

    public static RawFraming Default { get; } = new();

    public string Spec { get; }

    public int MaxFrameBytes { get; }

    public FrameErrorPolicy OnError { get; }

    public bool IsRaw => true;

    public int FrameOverheadBytes => 0;

    public IFrameDecoder CreateDecoder() => this;

    public IFrameEncoder Encoder => this;

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

    public DecodeStatus DecodeEnd(ref ReadOnlySequence<byte> input, out ReadOnlySequence<byte> payload, out FrameFields fields, out FrameError error)
        => Decode(ref input, out payload, out fields, out error);

    public int GetEncodedLength(int payloadLength) => payloadLength;

    public void Encode(ReadOnlySpan<byte> payload, in FrameFields fields, IBufferWriter<byte> output) => output.Write(payload);

    internal static IFraming Create(FramingSettings settings)
    {
        var (max, onError) = settings.Common();
        return new RawFraming(max, onError);
    }
}
