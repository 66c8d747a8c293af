using System.Text.Json.Serialization;

namespace Ferry.Cli;

/// <summary>
/// The shapes of the JSON lines the commands print (snake_case, <c>type</c> first, absent values left
/// out), serialised by <see cref="CliJsonContext"/>'s source-generated code: no reflection, AOT-safe.
/// Packet lines are the exception: they are written field by field so a payload goes from the pooled
/// slab to stdout without a string per packet.
/// </summary>
internal abstract record EventLine([property: JsonPropertyOrder(-2)] string Type)
{

    /// <summary>The stage's name; set by <c>ferry run</c>, where several stages print on one stdout.</summary>
    [JsonPropertyOrder(-1)]
    public string? Stage { get; init; }
}

internal sealed record ListeningLine(string Local) : EventLine("listening");

/// <summary><c>via</c>: the proxy the client came through, when a trusted proxy's PROXY header named the client as <c>peer</c>.</summary>
internal sealed record ConnectedLine(string Conn, string Peer, string? Via = null, TlsLine? Tls = null) : EventLine("connected");

/// <summary>What a TLS handshake negotiated: the <c>tls</c> object of a <c>connected</c> line.</summary>
internal sealed record TlsLine(string Protocol, string CipherSuite, string? ServerName, string? Alpn, string? PeerSubject, string? PeerThumbprint)
{
    public static TlsLine? From(Ferry.Stages.TlsConnectionInfo? tls) => tls is null ? null
        : new(tls.Protocol, tls.CipherSuite, tls.ServerName, tls.ApplicationProtocol, tls.PeerCertificateSubject, tls.PeerCertificateThumbprint);
}

internal sealed record DisconnectedLine(string Conn, string Peer, string Reason, string? Code, string? Detail) : EventLine("disconnected");

internal sealed record ErrorLine(string? Kind, string Message, string? Conn, string? Detail) : EventLine("error");

internal sealed record ClosedLine() : EventLine("closed");

internal sealed record ConnectingLine(string Remote, int Attempt) : EventLine("connecting");

internal sealed record ConnectFailedLine(string Remote, int Attempt, string Reason, double RetryInMs, bool GivingUp) : EventLine("connect_failed");

internal sealed record OkLine(string Command, int? Delivered, string? Note) : EventLine("ok");

internal sealed record ReadyLine() : EventLine("ready");

internal sealed record FrameLine(ushort Flags, byte Channel, byte Error, int Len) : EventLine("frame");

/// <summary><c>ferry bridge --stats</c>: one line a second.</summary>
internal sealed record BridgeStatsLine(
    bool Ready, long FramesIn, long BytesIn, long FramesOut, long BytesOut, double FramesInPerS, double BytesInPerS, double FramesOutPerS,
    double BytesOutPerS, long MessagesDropped, long Handshakes, long PendingSendBytes, long WorkingSetBytes) : EventLine("stats");

internal sealed record ConnectionsLine(IReadOnlyList<ConnectionLine> Connections) : EventLine("connections");

internal sealed record StatsLine(
    int Connections, long Accepted, long Rejected, long Closed, long BytesIn, long PacketsIn, long BytesOut, long PacketsOut,
    double BytesInPerS, double PacketsInPerS, double BytesOutPerS, double PacketsOutPerS, long Groups, long FrameErrors,
    long EgressDroppedBytes, long EgressDroppedPackets, long EgressUnknownTarget, long TlsFailures, long ProxyFailures, long GroupJoinsRefused,
    int Lingering, long LingeringResets, IReadOnlyList<ConnectionLine>? ConnectionsTable) : EventLine("stats");

/// <summary>One row of the connection table (stdin <c>connections</c>, <c>--stats-connections</c>).</summary>
internal sealed record ConnectionLine(
    string Conn, string Peer, DateTimeOffset ConnectedAt, DateTimeOffset LastActivity, long BytesIn, long PacketsIn, long BytesOut,
    long PacketsOut, long EgressQueuedBytes, long EgressDroppedBytes, long EgressDroppedPackets, IReadOnlyList<string> Groups, string? Via = null);

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(ListeningLine))]
[JsonSerializable(typeof(ConnectedLine))]
[JsonSerializable(typeof(DisconnectedLine))]
[JsonSerializable(typeof(ErrorLine))]
[JsonSerializable(typeof(ClosedLine))]
[JsonSerializable(typeof(ConnectingLine))]
[JsonSerializable(typeof(ConnectFailedLine))]
[JsonSerializable(typeof(OkLine))]
[JsonSerializable(typeof(ReadyLine))]
[JsonSerializable(typeof(FrameLine))]
[JsonSerializable(typeof(ConnectionsLine))]
[JsonSerializable(typeof(StatsLine))]
[JsonSerializable(typeof(BridgeStatsLine))]
internal sealed partial class CliJsonContext : JsonSerializerContext;
