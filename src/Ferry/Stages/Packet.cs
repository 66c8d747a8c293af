using System.Net;
using Ferry.Connections;
using Ferry.Framing;

namespace Ferry.Stages;

/// <summary>
/// One framed message as received: payload plus where it came from, when, and the framing's header
/// fields. The payload lives in its packet group's pooled buffer: valid while the group is (during the
/// handler, or until a queue reader takes the next group). Read after that, it throws
/// <see cref="ObjectDisposedException"/>; it never shows another message's bytes.
/// </summary>
/// <remarks>To keep data, say so: <c>packet.Payload.ToArray()</c>, or <see cref="PacketGroup.Retain"/> on the
/// group (dispose the lease when done). A connection handler's <see cref="ConnectionMessage"/> follows the same rule (valid until its loop moves on; <see cref="ConnectionMessage.ToArray"/> or <see cref="ConnectionMessage.Retain"/> to keep).</remarks>
public readonly struct Packet
{
    internal Packet(ConnectionId connectionId, IPEndPoint peer, long receivedAtUtcTicks, FrameFields fields, ReadOnlyMemory<byte> payload)
    {
        ConnectionId = connectionId;
        Peer = peer;
        ReceivedAtUtcTicks = receivedAtUtcTicks;
        Fields = fields;
        Payload = payload;
    }

    /// <summary>The connection it arrived on.</summary>
    public ConnectionId ConnectionId { get; }

    /// <summary>The peer's address and port (the seeds' <c>peer.ip</c> / <c>peer.port</c>).</summary>
    public IPEndPoint Peer { get; }

    /// <summary>When it was received, as UTC <see cref="DateTime.Ticks"/> (100 ns units) of the stage's clock.</summary>
    public long ReceivedAtUtcTicks { get; }

    /// <summary><see cref="ReceivedAtUtcTicks"/> as a UTC time.</summary>
    public DateTimeOffset ReceivedAt => new(ReceivedAtUtcTicks, TimeSpan.Zero);

    /// <summary>The framing's header fields (message type, stream id, …); zero for framings without them.</summary>
    public FrameFields Fields { get; }

    /// <summary>
    /// The message's bytes, without framing. Valid only while its <see cref="PacketGroup"/> is; afterwards
    /// reading it (<c>.Span</c>, or a <see cref="System.Text.Json.JsonDocument"/> parsed from it) throws
    /// <see cref="ObjectDisposedException"/>. Keep data with <c>Payload.ToArray()</c> or <see cref="PacketGroup.Retain"/>.
    /// </summary>
    public ReadOnlyMemory<byte> Payload { get; }
}
