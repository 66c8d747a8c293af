namespace Ferry.Bridge;

/// <summary>
/// The bridge's unit, Rogue's stream Frame as it crosses the wire: payload bytes plus 16-bit flags,
/// an 8-bit channel and an 8-bit error.
/// </summary>
/// <remarks>
/// Ownership: sending copies the payload into a connection's send buffer before
/// <see cref="IFrameSink.SendAsync"/> completes, so the sender may reuse its memory afterwards. A
/// received frame's payload is a fresh array that the bridge never touches again: the receiver owns it
/// and may keep it, modify it or send it straight back.
/// </remarks>
public readonly struct Frame
{
    /// <summary>A frame carrying <paramref name="payload"/> (not copied) and Rogue's metadata.</summary>
    /// <param name="payload">The frame's bytes, of any length including zero.</param>
    /// <param name="flags">Rogue's 16-bit flags (see <see cref="ComposeFlags"/>).</param>
    /// <param name="channel">Rogue's channel number.</param>
    /// <param name="error">Rogue's error byte; 0 for none.</param>
    public Frame(ReadOnlyMemory<byte> payload, ushort flags = 0, byte channel = 0, byte error = 0)
    {
        Payload = payload;
        Flags = flags;
        Channel = channel;
        Error = error;
    }

    /// <summary>The frame's bytes. For a received frame, an array the receiver owns (see the remarks).</summary>
    public ReadOnlyMemory<byte> Payload { get; }

    /// <summary>Rogue's 16-bit frame flags, sent little-endian.</summary>
    public ushort Flags { get; }

    /// <summary>Rogue's 8-bit channel number.</summary>
    public byte Channel { get; }

    /// <summary>Rogue's 8-bit error byte; 0 means no error.</summary>
    public byte Error { get; }

    /// <summary>Rogue's first-user flags: the low byte of <see cref="Flags"/>.</summary>
    public byte FirstUser => (byte)(Flags & 0xFF);

    /// <summary>Rogue's last-user flags: the high byte of <see cref="Flags"/>.</summary>
    public byte LastUser => (byte)(Flags >> 8);

    /// <summary>The flags word Rogue builds from its first-user and last-user bytes.</summary>
    public static ushort ComposeFlags(byte firstUser, byte lastUser) => (ushort)(firstUser | (lastUser << 8));

    /// <summary>A short description for logs: payload length and metadata, not the payload itself.</summary>
    public override string ToString() => $"Frame(len={Payload.Length}, flags=0x{Flags:X4}, channel={Channel}, error={Error})";
}
