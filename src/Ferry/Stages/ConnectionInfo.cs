using System.Net;
using Ferry.Connections;

namespace Ferry.Stages;

/// <summary>One row of a stage's connection registry, as of the moment it was taken.</summary>
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
    IReadOnlyList<string> Groups);
