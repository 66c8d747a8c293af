namespace Ferry.Framing;

/// <summary>
/// One named header field of a framing (<c>msg_type</c>, <c>stream</c>, <c>channel</c>, …): how to read
/// it from and write it into <see cref="FrameFields"/>, and its largest value. Framings list theirs in
/// <see cref="IFraming.HeaderFields"/>, so tools print and parse header fields by name without knowing
/// the framing; a new framing defines its own with <see cref="Custom"/> instead of editing
/// <see cref="FrameFields"/>.
/// </summary>
public sealed class FrameField
{
    private readonly Func<FrameFields, ulong> _read;
    private readonly Func<FrameFields, ulong, FrameFields> _write;

    private FrameField(string name, ulong maxValue, Func<FrameFields, ulong> read, Func<FrameFields, ulong, FrameFields> write)
    {
        Name = name;
        MaxValue = maxValue;
        _read = read;
        _write = write;
    }

    /// <summary>The field's name in specs, JSON lines and configuration (snake_case).</summary>
    public string Name { get; }

    /// <summary>The largest value the field can hold on the wire.</summary>
    public ulong MaxValue { get; }

    /// <summary>The <c>header</c> framing's message type (<c>msg_type</c>, 16 bits).</summary>
    public static FrameField MessageType { get; } = new("msg_type", ushort.MaxValue, f => f.MessageType, (f, v) => f with { MessageType = (ushort)v });

    /// <summary>Flags (<c>flags</c>, 16 bits): the <c>header</c> framing's, or a Rogue frame's.</summary>
    public static FrameField Flags { get; } = new("flags", ushort.MaxValue, f => f.Flags, (f, v) => f with { Flags = (ushort)v });

    /// <summary>The <c>mux</c> framing's stream id (<c>stream</c>, 32 bits).</summary>
    public static FrameField StreamId { get; } = new("stream", uint.MaxValue, f => f.StreamId, (f, v) => f with { StreamId = (uint)v });

    /// <summary>A Rogue frame's channel (<c>channel</c>, 8 bits).</summary>
    public static FrameField Channel { get; } = new("channel", byte.MaxValue, f => f.Channel, (f, v) => f with { Channel = (byte)v });

    /// <summary>A Rogue frame's error byte (<c>error</c>, 8 bits).</summary>
    public static FrameField Error { get; } = new("error", byte.MaxValue, f => f.Error, (f, v) => f with { Error = (byte)v });

    /// <summary>
    /// A field of a framing's own, kept in <paramref name="bits"/> bits of <see cref="FrameFields.Custom"/>
    /// from bit <paramref name="offset"/> on; a framing with several custom fields gives each its own bits.
    /// </summary>
    public static FrameField Custom(string name, int offset, int bits)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        // offset > 64 - bits, not offset + bits > 64: the sum wraps negative for a huge offset, which then passed and was
        // taken modulo 64 by the shifts (a field at some other bit, silently).
        if (bits is < 1 or > 64 || offset < 0 || offset > 64 - bits)
            throw new ArgumentOutOfRangeException(nameof(bits), $"a custom field takes 1 to 64 bits within the 64 of FrameFields.Custom (offset {offset}, bits {bits})");
        var max = bits == 64 ? ulong.MaxValue : (1UL << bits) - 1;
        return new FrameField(name, max, f => (f.Custom >> offset) & max, (f, v) => f with { Custom = (f.Custom & ~(max << offset)) | ((v & max) << offset) });
    }

    /// <summary>The field's value in <paramref name="fields"/>.</summary>
    public ulong Read(in FrameFields fields) => _read(fields);

    /// <summary><paramref name="fields"/> with this field set.</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="value"/> is above <see cref="MaxValue"/>.</exception>
    public FrameFields Write(in FrameFields fields, ulong value)
    {
        if (value > MaxValue)
            throw new ArgumentOutOfRangeException(nameof(value), value, $"header field '{Name}' takes 0 to {MaxValue}");
        return _write(fields, value);
    }

    /// <inheritdoc />
    public override string ToString() => Name;
}
