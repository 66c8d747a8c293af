using Ferry.Framing;

namespace Ferry.Stages;

/// <summary>
/// One framed message handed to a connection handler (<see cref="FerryConnection.ReadAsync"/>). Unlike a
/// <see cref="Packet"/> it owns its bytes: the payload is a copy made for this message alone, so it may
/// be kept, stored or parsed lazily for as long as the application likes.
/// </summary>
public readonly struct ConnectionMessage
{
    private readonly byte[]? _payload;

    internal ConnectionMessage(byte[] payload, FrameFields fields, long receivedAtUtcTicks)
    {
        _payload = payload;
        Fields = fields;
        ReceivedAtUtcTicks = receivedAtUtcTicks;
    }

    /// <summary>The message's bytes, without framing; owned by this message, never reused.</summary>
    public ReadOnlyMemory<byte> Payload => _payload;

    /// <summary>The framing's header fields (message type, stream id, …); zero for framings without them.</summary>
    public FrameFields Fields { get; }

    /// <summary>When it was received, as UTC <see cref="DateTime.Ticks"/> of the stage's clock.</summary>
    public long ReceivedAtUtcTicks { get; }

    /// <summary><see cref="ReceivedAtUtcTicks"/> as a UTC time.</summary>
    public DateTimeOffset ReceivedAt => new(ReceivedAtUtcTicks, TimeSpan.Zero);
}
