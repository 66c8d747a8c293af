using System.Net;
using Ferry.Connections;
using Ferry.Framing;

namespace Ferry.Stages;

/// <summary>
/// One framed message as received: payload plus where it came from, when, and the framing's header
/// fields. The payload lives in its packet group's pooled buffer: valid while the group is.
/// </summary>
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

    public ConnectionId ConnectionId { get; }

    /// <summary>The peer's address and port (the seeds' <c>peer.ip</c> / <c>peer.port</c>).</summary>
    public IPEndPoint Peer { get; }

    public long ReceivedAtUtcTicks { get; }

    public DateTimeOffset ReceivedAt => new(ReceivedAtUtcTicks, TimeSpan.Zero);

    public FrameFields Fields { get; }

    public ReadOnlyMemory<byte> Payload { get; }
}
