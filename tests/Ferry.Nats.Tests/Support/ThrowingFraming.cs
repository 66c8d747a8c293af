using System.Buffers;
using Ferry.Framing;

namespace Ferry.Nats.Tests.Support;

/// <summary>
/// Lines, except that its encoder throws <see cref="InvalidOperationException"/> (not the <see cref="FramingException"/>
/// the gateway anticipates) for a payload that starts with <c>boom</c>: a custom framing with a fault, the way one
/// message makes the gateway's send path throw something nobody planned for.
/// </summary>
public sealed class ThrowingFraming : IFraming
{
    private readonly IFraming _lines = FramingSpec.Parse("lines");

    public ThrowingFraming() => Encoder = new ThrowingEncoder(_lines.Encoder);

    public string Spec => _lines.Spec;

    public int MaxFrameBytes => _lines.MaxFrameBytes;

    public FrameErrorPolicy OnError => _lines.OnError;

    public int FrameOverheadBytes => _lines.FrameOverheadBytes;

    public IFrameDecoder CreateDecoder() => _lines.CreateDecoder();

    public IFrameEncoder Encoder { get; }

    private sealed class ThrowingEncoder(IFrameEncoder inner) : IFrameEncoder
    {
        public int GetEncodedLength(int payloadLength) => inner.GetEncodedLength(payloadLength);

        public void Encode(ReadOnlySpan<byte> payload, in FrameFields fields, IBufferWriter<byte> output)
        {
            if (payload.StartsWith("boom"u8))
                throw new InvalidOperationException("the test framing cannot encode 'boom'");
            inner.Encode(payload, fields, output);
        }
    }
}
