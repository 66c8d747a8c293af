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
    public Frame(ReadOnlyMemory<byte> payload, ushort flags = 0, byte channel = 0, byte error = 0)
    {
        Payload = payload;
        Flags = flags;
        Channel = channel;
        Error = error;
    }

    public ReadOnlyMemory<byte> Payload { get; }

    /// <summary>Rogue's 16-bit frame flags, sent little-endian.</summary>
    public ushort Flags { get; }

    public byte Channel { get; }

    public byte Error { get; }

    /// <summary>Rogue's first-user flags: the low byte of <see cref="Flags"/>.</summary>
    public byte FirstUser => (byte)(Flags & 0xFF);

    /// <summary>Rogue's last-user flags: the high byte of <see cref="Flags"/>.</summary>
    public byte LastUser => (byte)(Flags >> 8);

    /// <summary>The flags word Rogue builds from its first-user and last-user bytes.</summary>
    public static ushort ComposeFlags(byte firstUser, byte lastUser) => (ushort)(firstUser | (lastUser << 8));

    public override string ToString() => $"Frame(len={Payload.Length}, flags=0x{Flags:X4}, channel={Channel}, error={Error})";
}
