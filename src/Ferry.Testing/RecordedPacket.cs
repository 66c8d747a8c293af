using System.Net;
using Ferry.Connections;
using Ferry.Framing;

namespace Ferry.Testing;

/// <summary>
/// One packet a <see cref="FerryTestServer"/> received, copied out of the stage's buffers (so it stays
/// valid after the packet group is recycled).
/// </summary>
/// <param name="Connection">The connection it came from.</param>
/// <param name="Peer">The client's address.</param>
/// <param name="Payload">A copy of the message's bytes.</param>
/// <param name="Fields">The header fields of framings that carry them.</param>
/// <param name="Group">The sequence number of the packet group it was published in.</param>
public sealed record RecordedPacket(ConnectionId Connection, IPEndPoint Peer, byte[] Payload, FrameFields Fields, long Group)
{
    /// <summary>The payload as UTF-8 text (for assertions on text protocols).</summary>
    public string Text => System.Text.Encoding.UTF8.GetString(Payload);
}
