using System.Buffers;
using System.Buffers.Binary;
using Ferry.Framing.Internal;

namespace Ferry.Framing;

/// <summary>
/// <c>mux</c>: many logical streams over one connection. An 8-byte big-endian header, stream id u32 and
/// payload length u32, then the payload; the stream id travels in <see cref="FrameFields.StreamId"/>.
/// By convention stream 0 carries control messages; the codec treats it like any other stream.
/// </summary>
public sealed class MuxFraming : IFraming, IFrameEncoder
{
    /// <summary>The stream that, by convention, carries control messages.</summary>
    public const uint ControlStream = 0;

    public MuxFraming(int maxFrameBytes = FramingDefaults.MaxFrameBytes, FrameErrorPolicy onError = FrameErrorPolicy.Close)
    {
        MaxFrameBytes = FramingGuard.MaxFrameBytes(maxFrameBytes);
        OnError = FramingGuard.OnError(onError);
        Spec = new SpecText("mux").Common(MaxFrameBytes, OnError);
    }

    public string Spec { get; }

    public int MaxFrameBytes { get; }

    public FrameErrorPolicy OnError { get; }

    public int FrameOverheadBytes => StreamLengthHeader.Size;

    public IFrameEncoder Encoder => this;

    /// <summary>The stream id.</summary>
    public IReadOnlyList<FrameField> HeaderFields { get; } = [FrameField.StreamId];

    public IFrameDecoder CreateDecoder() => new HeaderFrameDecoder<StreamLengthHeader>(default, MaxFrameBytes, OnError);

    public int GetEncodedLength(int payloadLength) => StreamLengthHeader.Size + payloadLength;

    public void Encode(ReadOnlySpan<byte> payload, in FrameFields fields, IBufferWriter<byte> output)
    {
        FramingGuard.PayloadFits("mux", payload.Length, MaxFrameBytes);
        var head = output.GetSpan(StreamLengthHeader.Size);
        BinaryPrimitives.WriteUInt32BigEndian(head, fields.StreamId);
        BinaryPrimitives.WriteUInt32BigEndian(head[4..], (uint)payload.Length);
        output.Advance(StreamLengthHeader.Size);
        output.Write(payload);
    }

    internal static IFraming Create(FramingSettings settings)
    {
        var (max, onError) = settings.Common();
        return new MuxFraming(max, onError);
    }
}
