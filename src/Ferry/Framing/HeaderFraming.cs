using System.Buffers;
using System.Buffers.Binary;
using Ferry.Framing.Internal;

namespace Ferry.Framing;

/// <summary>
/// <c>header</c>: an 8-byte big-endian header, message type u16, payload length u32, flags u16, then the
/// payload. Type and flags travel in <see cref="FrameFields.MessageType"/> and <see cref="FrameFields.Flags"/>.
/// </summary>
public sealed class HeaderFraming : IFraming, IFrameEncoder
{
    /// <summary>A <c>header</c> framing.</summary>
    /// <param name="maxFrameBytes">The largest payload, in bytes (default 1 MiB).</param>
    /// <param name="onError">A frame over <paramref name="maxFrameBytes"/> closes the connection (default) or is skipped by its declared length.</param>
    /// <exception cref="FramingException"><paramref name="maxFrameBytes"/> is not positive or <paramref name="onError"/> is not a defined value.</exception>
    public HeaderFraming(int maxFrameBytes = FramingDefaults.MaxFrameBytes, FrameErrorPolicy onError = FrameErrorPolicy.Close)
    {
        MaxFrameBytes = FramingGuard.MaxFrameBytes(maxFrameBytes);
        OnError = FramingGuard.OnError(onError);
        Spec = new SpecText("header").Common(MaxFrameBytes, OnError);
    }

    /// <inheritdoc/>
    public string Spec { get; }

    /// <inheritdoc/>
    public int MaxFrameBytes { get; }

    /// <inheritdoc/>
    public FrameErrorPolicy OnError { get; }

    /// <inheritdoc/>
    public int FrameOverheadBytes => TypeLengthFlagsHeader.Size;

    /// <inheritdoc/>
    public IFrameEncoder Encoder => this;

    /// <summary>The message type and the flags, as the header carries them.</summary>
    public IReadOnlyList<FrameField> HeaderFields { get; } = [FrameField.MessageType, FrameField.Flags];

    /// <inheritdoc/>
    public IFrameDecoder CreateDecoder() => new HeaderFrameDecoder<TypeLengthFlagsHeader>(default, MaxFrameBytes, OnError);

    /// <inheritdoc/>
    public int GetEncodedLength(int payloadLength) => TypeLengthFlagsHeader.Size + payloadLength;

    /// <summary>Writes the header with <see cref="FrameFields.MessageType"/> and <see cref="FrameFields.Flags"/>, then the payload.</summary>
    /// <inheritdoc cref="IFrameEncoder.Encode" path="/param"/>
    /// <exception cref="FramingException">The payload is over <see cref="MaxFrameBytes"/>.</exception>
    public void Encode(ReadOnlySpan<byte> payload, in FrameFields fields, IBufferWriter<byte> output)
    {
        FramingGuard.PayloadFits("header", payload.Length, MaxFrameBytes);
        var head = output.GetSpan(TypeLengthFlagsHeader.Size);
        BinaryPrimitives.WriteUInt16BigEndian(head, fields.MessageType);
        BinaryPrimitives.WriteUInt32BigEndian(head[2..], (uint)payload.Length);
        BinaryPrimitives.WriteUInt16BigEndian(head[6..], fields.Flags);
        output.Advance(TypeLengthFlagsHeader.Size);
        output.Write(payload);
    }

    internal static IFraming Create(FramingSettings settings)
    {
        var (max, onError) = settings.Common();
        return new HeaderFraming(max, onError);
    }
}
