using System.Net;
using Ferry.Connections;

namespace Ferry.Stages;

/// <summary>One row of a stage's connection registry, as of the moment it was taken.</summary>
/// <param name="Id">The connection's id.</param>
/// <param name="Peer">The remote address and port.</param>
/// <param name="ConnectedAt">When the connection was taken (UTC).</param>
/// <param name="LastActivity">When bytes last arrived from the peer (UTC); <paramref name="ConnectedAt"/> until then.</param>
/// <param name="BytesIn">Bytes read from the socket, framing included.</param>
/// <param name="PacketsIn">Messages decoded.</param>
/// <param name="BytesOut">Bytes written to the socket, framing included.</param>
/// <param name="PacketsOut">Messages queued for sending.</param>
/// <param name="EgressBytesQueued">Encoded bytes waiting in the connection's egress buffer.</param>
/// <param name="EgressBytesDropped">Encoded bytes of messages dropped for this connection.</param>
/// <param name="EgressPacketsDropped">Messages dropped for this connection.</param>
/// <param name="Groups">The groups it belongs to.</param>
/// <param name="Via">The proxy it came through when a PROXY header named the client as <paramref name="Peer"/>; null otherwise.</param>
public sealed record ConnectionInfo(
    ConnectionId Id,
    IPEndPoint Peer,
    DateTimeOffset ConnectedAt,
    DateTimeOffset LastActivity,
    long BytesIn,
    long PacketsIn,
    long BytesOut,
    long PacketsOut,
    int EgressBytesQueued,
    long EgressBytesDropped,
    long EgressPacketsDropped,
    IReadOnlyList<string> Groups,
    IPEndPoint? Via = null);
