using System.Buffers;
using Ferry.Framing.Internal;

namespace Ferry.Framing;

/// <summary>
/// <c>length</c>: each frame carries its own length in a field of 1, 2, 3, 4 or 8 bytes, big or little
/// endian, <c>offset</c> bytes into the frame. The frame is <c>offset + bytes + value + adjust</c> bytes
/// long; the first <c>strip</c> bytes of it (by default the whole header) are dropped from the payload.
/// <c>u16be</c> and <c>u32be</c> are this framing with a 2- or 4-byte big-endian field.
/// </summary>
/// <remarks>
/// Egress writes <c>strip</c> bytes of header and then the payload. Header bytes that ingress strips and
/// the framing does not interpret (those before the length field, and any between it and <c>strip</c>)
/// are written as zeros. When <c>strip</c> is shorter than the header, the payload itself begins with
/// the rest of the header, as ingress delivered it; its length field is rewritten with the right value.
/// </remarks>
public sealed class LengthFieldFraming : IFraming, IFrameEncoder
{
    /// <summary>The largest <c>offset</c>: a header is a few bytes, not a payload.</summary>
    public const int MaxOffset = 1024;

    private readonly LengthFieldHeader _header;
    private readonly bool _bigEndian;
    private readonly int _headerLength;
    private readonly long _maxFieldValue;

    /// <summary>A <c>length</c> framing; the defaults describe a 4-byte big-endian length before the payload.</summary>
    /// <param name="fieldBytes">Size of the length field: 1, 2, 3, 4 or 8.</param>
    /// <param name="bigEndian">Byte order of the length field.</param>
    /// <param name="offset">Bytes before the length field (0..1024).</param>
    /// <param name="adjust">Added to the field's value to get the bytes that follow the field (-4 when a
    /// 4-byte field counts itself).</param>
    /// <param name="strip">Bytes dropped from the front of each frame, 0..offset+fieldBytes; null strips the whole header.</param>
    /// <param name="maxFrameBytes">The largest payload, in bytes (default 1 MiB).</param>
    /// <param name="onError">Oversize frames close the connection (default) or are skipped by their declared length.</param>
    /// <exception cref="FramingException">A parameter is out of range; the message names it.</exception>
    public LengthFieldFraming(
        int fieldBytes = 4,
        bool bigEndian = true,
        int offset = 0,
        int adjust = 0,
        int? strip = null,
        int maxFrameBytes = FramingDefaults.MaxFrameBytes,
        FrameErrorPolicy onError = FrameErrorPolicy.Close)
    {
        if (!LengthField.IsValidSize(fieldBytes))
            throw new FramingException($"bytes={fieldBytes}: must be 1, 2, 3, 4 or 8");
        if (offset is < 0 or > MaxOffset)
            throw new FramingException($"offset={offset}: must be from 0 to {MaxOffset}");
        _headerLength = offset + fieldBytes;
        var stripBytes = strip ?? _headerLength;
        if (stripBytes < 0 || stripBytes > _headerLength)
            throw new FramingException($"strip={stripBytes}: must be from 0 to {_headerLength} (offset + bytes)");

        FieldBytes = fieldBytes;
        BigEndian = _bigEndian = bigEndian;
        Offset = offset;
        Adjust = adjust;
        Strip = stripBytes;
        MaxFrameBytes = FramingGuard.MaxFrameBytes(maxFrameBytes);
        OnError = FramingGuard.OnError(onError);
        _maxFieldValue = LengthField.MaxValue(fieldBytes);
        // The largest payload the field can announce: a limit above it could never be reached, which is
        // a mistake in the settings (u16be with max_frame_bytes=70000), not something to accept silently.
        // Computed wide: an 8-byte field's maximum plus unstripped header bytes or a positive adjust
        // would overflow a long (and wrap negative).
        var expressible = (long)Int128.Min((Int128)_headerLength - stripBytes + _maxFieldValue + adjust, long.MaxValue);
        _defaultLimit = (int)Math.Clamp(expressible, 1, FramingDefaults.MaxFrameBytes);
        if (MaxFrameBytes > expressible)
        {
            if (maxFrameBytes != FramingDefaults.MaxFrameBytes)
                throw new FramingException($"max_frame_bytes={maxFrameBytes}: a {fieldBytes}-byte length field (adjust {adjust}, strip {stripBytes}) can announce payloads of at most {Math.Max(expressible, 0)} bytes");
            MaxFrameBytes = (int)Math.Max(expressible, 1); // the default limit shrinks to what the field can hold
        }
        _header = new LengthFieldHeader(offset, fieldBytes, bigEndian, adjust, stripBytes);
        Spec = SpecFor(shorthand: null);
    }

    private LengthFieldFraming(string shorthand, int fieldBytes, int maxFrameBytes, FrameErrorPolicy onError)
        : this(fieldBytes, bigEndian: true, maxFrameBytes: maxFrameBytes, onError: onError)
    {
        Spec = SpecFor(shorthand);
    }

    /// <summary><c>u16be</c>: a 2-byte big-endian length, then the payload.</summary>
    /// <param name="maxFrameBytes">The largest payload, in bytes (default 1 MiB).</param>
    /// <param name="onError">Oversize frames close the connection (default) or are skipped by their declared length.</param>
    /// <exception cref="FramingException"><paramref name="maxFrameBytes"/> is not positive.</exception>
    public static LengthFieldFraming U16BigEndian(int maxFrameBytes = FramingDefaults.MaxFrameBytes, FrameErrorPolicy onError = FrameErrorPolicy.Close)
        => new("u16be", 2, maxFrameBytes, onError);

    /// <summary><c>u32be</c>: a 4-byte big-endian length, then the payload.</summary>
    /// <param name="maxFrameBytes">The largest payload, in bytes (default 1 MiB).</param>
    /// <param name="onError">Oversize frames close the connection (default) or are skipped by their declared length.</param>
    /// <exception cref="FramingException"><paramref name="maxFrameBytes"/> is not positive.</exception>
    public static LengthFieldFraming U32BigEndian(int maxFrameBytes = FramingDefaults.MaxFrameBytes, FrameErrorPolicy onError = FrameErrorPolicy.Close)
        => new("u32be", 4, maxFrameBytes, onError);

    /// <summary>Size of the length field in bytes: 1, 2, 3, 4 or 8.</summary>
    public int FieldBytes { get; }

    /// <summary>True when the length field is big-endian (network order), false for little-endian.</summary>
    public bool BigEndian { get; }

    /// <summary>Bytes before the length field.</summary>
    public int Offset { get; }

    /// <summary>Added to the field's value to get the number of bytes that follow the field.</summary>
    public int Adjust { get; }

    /// <summary>Bytes dropped from the front of each frame on ingress and written (as header) on egress.</summary>
    public int Strip { get; }

    /// <inheritdoc/>
    public string Spec { get; }

    /// <inheritdoc/>
    public int MaxFrameBytes { get; }

    /// <inheritdoc/>
    public FrameErrorPolicy OnError { get; }

    /// <inheritdoc/>
    public int FrameOverheadBytes => _headerLength;

    /// <inheritdoc/>
    public IFrameEncoder Encoder => this;

    /// <inheritdoc/>
    public IFrameDecoder CreateDecoder() => new HeaderFrameDecoder<LengthFieldHeader>(_header, MaxFrameBytes, OnError);

    /// <inheritdoc/>
    public int GetEncodedLength(int payloadLength) => Strip + payloadLength;

    /// <summary>Writes <see cref="Strip"/> bytes of header (zeros except the length field), then the payload; see the remarks.</summary>
    /// <inheritdoc cref="IFrameEncoder.Encode" path="/param"/>
    /// <exception cref="FramingException">The payload is over <see cref="MaxFrameBytes"/>, shorter than the header part it must carry, or too long for the length field.</exception>
    public void Encode(ReadOnlySpan<byte> payload, in FrameFields fields, IBufferWriter<byte> output)
    {
        FramingGuard.PayloadFits("length", payload.Length, MaxFrameBytes);
        long frameLength = Strip + payload.Length;
        if (frameLength < _headerLength)
            throw new FramingException($"length: a payload of {payload.Length} bytes is shorter than the {_headerLength - Strip} header bytes it must start with (strip={Strip})");
        var value = frameLength - _headerLength - Adjust;
        if (value < 0 || value > _maxFieldValue)
            throw new FramingException($"length: a payload of {payload.Length} bytes needs a length of {value}, which a {FieldBytes}-byte field with adjust={Adjust} cannot hold");

        // The header region: Strip zero bytes, or, when the payload carries part of the header, the
        // payload's first bytes; either way the length field is written over it.
        var prefixLength = Math.Max(Strip, _headerLength);
        var head = output.GetSpan(prefixLength)[..prefixLength];
        head[..Strip].Clear();
        var carried = prefixLength - Strip;
        payload[..carried].CopyTo(head[Strip..]);
        LengthField.Write(head.Slice(Offset, FieldBytes), (ulong)value, _bigEndian);
        output.Advance(prefixLength);
        output.Write(payload[carried..]);
    }

    internal static IFraming Create(FramingSettings settings)
    {
        var bytes = settings.Int("bytes", 4, 1, 8);
        if (!LengthField.IsValidSize(bytes))
            throw settings.Bad("bytes", bytes.ToString(System.Globalization.CultureInfo.InvariantCulture), "must be 1, 2, 3, 4 or 8");
        var bigEndian = settings.Choice("endian", true, ("big", true), ("little", false));
        var offset = settings.Int("offset", 0, 0, MaxOffset);
        var adjust = settings.Int("adjust", 0, int.MinValue, int.MaxValue);
        var strip = settings.Int("strip", -1, 0, offset + bytes);
        var (max, onError) = settings.Common();
        return new LengthFieldFraming(bytes, bigEndian, offset, adjust, strip < 0 ? null : strip, max, onError);
    }

    internal static IFraming CreateU16(FramingSettings settings)
    {
        var (max, onError) = settings.Common();
        return U16BigEndian(max, onError);
    }

    internal static IFraming CreateU32(FramingSettings settings)
    {
        var (max, onError) = settings.Common();
        return U32BigEndian(max, onError);
    }

    /// <summary>The limit when none is given: 1 MiB, or less when the field cannot announce that much.</summary>
    private readonly int _defaultLimit;

    /// <summary>The limit as the spec writes it: the field's own default is left out like any default.</summary>
    private int SpecLimit => MaxFrameBytes == _defaultLimit ? FramingDefaults.MaxFrameBytes : MaxFrameBytes;

    private string SpecFor(string? shorthand) => shorthand is not null
        ? new SpecText(shorthand).Common(SpecLimit, OnError)
        : new SpecText("length")
            .AddIf(FieldBytes != 4, "bytes", FieldBytes)
            .AddIf(!BigEndian, "endian", "little")
            .AddIf(Offset != 0, "offset", Offset)
            .AddIf(Adjust != 0, "adjust", Adjust)
            .AddIf(Strip != _headerLength, "strip", Strip)
            .Common(SpecLimit, OnError);
}
