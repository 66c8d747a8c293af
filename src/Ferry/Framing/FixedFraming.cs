using System.Buffers;
using Ferry.Framing.Internal;

namespace Ferry.Framing;

/// <summary>
/// <c>fixed,size=N</c>: every message is exactly N bytes, with nothing around it. Bytes left at the end
/// of the stream that do not fill a message are reported as <see cref="FrameErrorKind.Truncated"/>.
/// </summary>
public sealed class FixedFraming : IFraming, IFrameEncoder
{
    /// <summary>A framing of messages of exactly <paramref name="size"/> bytes.</summary>
    /// <param name="size">Bytes per message, 1..<paramref name="maxFrameBytes"/>.</param>
    /// <param name="maxFrameBytes">The largest payload, in bytes (default 1 MiB).</param>
    /// <param name="onError">Accepted for uniformity; nothing in a fixed-size stream can be skipped.</param>
    /// <exception cref="FramingException"><paramref name="size"/> is out of range, or another parameter is invalid.</exception>
    public FixedFraming(int size, int maxFrameBytes = FramingDefaults.MaxFrameBytes, FrameErrorPolicy onError = FrameErrorPolicy.Close)
    {
        MaxFrameBytes = FramingGuard.MaxFrameBytes(maxFrameBytes);
        if (size <= 0 || size > MaxFrameBytes)
            throw new FramingException($"size={size}: must be from 1 to max_frame_bytes={MaxFrameBytes}");
        Size = size;
        OnError = FramingGuard.OnError(onError);
        Spec = new SpecText("fixed").Add("size", size.ToString(System.Globalization.CultureInfo.InvariantCulture)).Common(MaxFrameBytes, OnError);
    }

    /// <summary>Bytes per message.</summary>
    public int Size { get; }

    /// <inheritdoc/>
    public string Spec { get; }

    /// <inheritdoc/>
    public int MaxFrameBytes { get; }

    /// <summary>Accepted for uniformity; a fixed-size stream has no error a policy could skip.</summary>
    public FrameErrorPolicy OnError { get; }

    /// <inheritdoc/>
    public int FrameOverheadBytes => 0;

    /// <inheritdoc/>
    public IFrameEncoder Encoder => this;

    /// <inheritdoc/>
    public IFrameDecoder CreateDecoder() => new HeaderFrameDecoder<FixedSizeHeader>(new FixedSizeHeader(Size), MaxFrameBytes, OnError);

    /// <inheritdoc/>
    public int GetEncodedLength(int payloadLength) => payloadLength;

    /// <summary>Writes the payload as is.</summary>
    /// <inheritdoc cref="IFrameEncoder.Encode" path="/param"/>
    /// <exception cref="FramingException">The payload is not exactly <see cref="Size"/> bytes.</exception>
    public void Encode(ReadOnlySpan<byte> payload, in FrameFields fields, IBufferWriter<byte> output)
    {
        if (payload.Length != Size)
            throw new FramingException($"fixed: a payload of {payload.Length} bytes is not the framing's size={Size}");
        output.Write(payload);
    }

    internal static IFraming Create(FramingSettings settings)
    {
        var size = settings.RequiredInt("size", 1, int.MaxValue);
        var (max, onError) = settings.Common();
        if (size > max)
            throw settings.Error($"size={size} is over max_frame_bytes={max}; raise max_frame_bytes");
        return new FixedFraming(size, max, onError);
    }
}
