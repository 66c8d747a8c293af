using System.Buffers;
using Ferry.Framing.Internal;

namespace Ferry.Framing;

/// <summary>
/// <c>text-length</c>: the payload's length in bytes as ASCII decimal digits, <c>\n</c>, then the payload,
/// e.g. <c>5\nhello</c> (the JSON protocol of the seed, counting bytes rather than characters).
/// Ingress also accepts <c>\r\n</c> after the digits; egress writes <c>\n</c>.
/// </summary>
/// <remarks>
/// A length line that holds anything but 1..18 digits is <see cref="FrameErrorKind.BadHeader"/>; with
/// on_error=skip the decoder discards up to and including the next <c>\n</c> and reads a new length line
/// there. A length over max_frame_bytes is <see cref="FrameErrorKind.Oversize"/>; with on_error=skip the
/// declared number of bytes is discarded and decoding goes on after them.
/// </remarks>
public sealed class TextLengthFraming : IFraming, IFrameEncoder
{
    /// <summary>A <c>text-length</c> framing.</summary>
    /// <param name="maxFrameBytes">The largest payload, in bytes (default 1 MiB).</param>
    /// <param name="onError">A bad or oversize length line closes the connection (default) or is skipped (see the remarks).</param>
    /// <exception cref="FramingException"><paramref name="maxFrameBytes"/> is not positive or <paramref name="onError"/> is not a defined value.</exception>
    public TextLengthFraming(int maxFrameBytes = FramingDefaults.MaxFrameBytes, FrameErrorPolicy onError = FrameErrorPolicy.Close)
    {
        MaxFrameBytes = FramingGuard.MaxFrameBytes(maxFrameBytes);
        OnError = FramingGuard.OnError(onError);
        Spec = new SpecText("text-length").Common(MaxFrameBytes, OnError);
    }

    /// <inheritdoc/>
    public string Spec { get; }

    /// <inheritdoc/>
    public int MaxFrameBytes { get; }

    /// <inheritdoc/>
    public FrameErrorPolicy OnError { get; }

    /// <inheritdoc/>
    public int FrameOverheadBytes => TextLengthDecoder.MaxHeaderBytes;

    /// <inheritdoc/>
    public IFrameEncoder Encoder => this;

    /// <inheritdoc/>
    public IFrameDecoder CreateDecoder() => new TextLengthDecoder(MaxFrameBytes, OnError);

    /// <inheritdoc/>
    public int GetEncodedLength(int payloadLength) => CountDigits((uint)payloadLength) + 1 + payloadLength;

    /// <summary>Writes the payload's length in decimal, <c>\n</c>, then the payload.</summary>
    /// <inheritdoc cref="IFrameEncoder.Encode" path="/param"/>
    /// <exception cref="FramingException">The payload is over <see cref="MaxFrameBytes"/>.</exception>
    public void Encode(ReadOnlySpan<byte> payload, in FrameFields fields, IBufferWriter<byte> output)
    {
        FramingGuard.PayloadFits("text-length", payload.Length, MaxFrameBytes);
        var head = output.GetSpan(11);
        ((uint)payload.Length).TryFormat(head, out var digits, default, System.Globalization.CultureInfo.InvariantCulture);
        head[digits] = (byte)'\n';
        output.Advance(digits + 1);
        output.Write(payload);
    }

    internal static IFraming Create(FramingSettings settings)
    {
        var (max, onError) = settings.Common();
        return new TextLengthFraming(max, onError);
    }

    private static int CountDigits(uint value)
    {
        var digits = 1;
        while (value >= 10)
        {
            value /= 10;
            digits++;
        }
        return digits;
    }
}
