using System.Buffers;

namespace Ferry.Framing;

/// <summary>
/// The seed's recv() semantics: every receive is one packet, egress is written as is. There is no
/// boundary to find, so the decoder takes everything it is given and keeps no state.
/// </summary>
public sealed class RawFraming : IFraming, IFrameDecoder, IFrameEncoder
{
    public const int DefaultMaxFrameBytes = 1024 * 1024;

    public RawFraming(int maxFrameBytes = DefaultMaxFrameBytes)
    {
        if (maxFrameBytes <= 0)
            throw new FramingException($"raw: max_frame_bytes must be a positive number of bytes, got {maxFrameBytes}");
        MaxFrameBytes = maxFrameBytes;
    }

    public static RawFraming Default { get; } = new();

    public string Spec => MaxFrameBytes == DefaultMaxFrameBytes ? "raw" : $"raw,max_frame_bytes={MaxFrameBytes}";

    public int MaxFrameBytes { get; }

    public FrameErrorPolicy OnError => FrameErrorPolicy.Close;

    public bool IsRaw => true;

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
}
