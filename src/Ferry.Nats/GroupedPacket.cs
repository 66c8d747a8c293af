using System.Net;
using Ferry.Connections;
using Ferry.Framing;

namespace Ferry.Nats;

/// <summary>One packet read back from a packet-group NATS message (<see cref="PacketGroupLayout.Read"/>).</summary>
/// <param name="Connection">The connection it came from.</param>
/// <param name="Peer">The peer's address and port.</param>
/// <param name="ReceivedAt">When the stage received it, UTC.</param>
/// <param name="Fields">The framing's header fields (zero where the framing has none).</param>
/// <param name="Payload">The message's bytes as framed: a slice of the NATS message's payload.</param>
public sealed record GroupedPacket(ConnectionId Connection, IPEndPoint Peer, DateTimeOffset ReceivedAt, FrameFields Fields, ReadOnlyMemory<byte> Payload);
