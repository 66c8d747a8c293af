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

    /// <summary>A <c>mux</c> framing.</summary>
    /// <param name="maxFrameBytes">The largest payload, in bytes (default 1 MiB).</param>
    /// <param name="onError">A frame over <paramref name="maxFrameBytes"/> closes the connection (default) or is skipped by its declared length.</param>
    /// <exception cref="FramingException"><paramref name="maxFrameBytes"/> is not positive or <paramref name="onError"/> is not a defined value.</exception>
    public MuxFraming(int maxFrameBytes = FramingDefaults.MaxFrameBytes, FrameErrorPolicy onError = FrameErrorPolicy.Close)
    {
        MaxFrameBytes = FramingGuard.MaxFrameBytes(maxFrameBytes);
        OnError = FramingGuard.OnError(onError);
        Spec = new SpecText("mux").Common(MaxFrameBytes, OnError);
    }

    /// <inheritdoc/>
    public string Spec { get; }

    /// <inheritdoc/>
    public int MaxFrameBytes { get; }

    /// <inheritdoc/>
    public FrameErrorPolicy OnError { get; }

    /// <inheritdoc/>
    public int FrameOverheadBytes => StreamLengthHeader.Size;

    /// <inheritdoc/>
    public IFrameEncoder Encoder => this;

    /// <summary>The stream id.</summary>
    public IReadOnlyList<FrameField> HeaderFields { get; } = [FrameField.StreamId];

    /// <inheritdoc/>
    public IFrameDecoder CreateDecoder() => new HeaderFrameDecoder<StreamLengthHeader>(default, MaxFrameBytes, OnError);

    /// <inheritdoc/>
    public int GetEncodedLength(int payloadLength) => StreamLengthHeader.Size + payloadLength;

    /// <summary>Writes the header with <see cref="FrameFields.StreamId"/> and the payload's length, then the payload.</summary>
    /// <inheritdoc cref="IFrameEncoder.Encode" path="/param"/>
    /// <exception cref="FramingException">The payload is over <see cref="MaxFrameBytes"/>.</exception>
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
