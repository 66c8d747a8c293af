namespace Ferry.Stages;

/// <summary>
/// A stage's figures, published once a second on <c>&lt;stage&gt;/socket_stats</c>. Totals count
/// from the stage's start; rates are over the last interval. Every connection is counted once by
/// <see cref="AcceptedTotal"/> when accepted (server) or connected (client), refused ones included, and once by
/// <see cref="ClosedTotal"/> when it ends, whatever the reason (one <c>Disconnected</c> event each), so
/// <see cref="AcceptedTotal"/> - <see cref="ClosedTotal"/> = <see cref="ConnectionsNow"/>;
/// <see cref="RejectedTotal"/> counts those of the closed that admission refused.
/// </summary>
public sealed record SocketStats
{
    /// <summary>The stage's name.</summary>
    public required string Stage { get; init; }
    /// <summary>When the figures were taken (UTC, stage clock).</summary>
    public required DateTimeOffset Time { get; init; }
    /// <summary>Length of the interval the rates are over; zero (and rates zero) for a snapshot from <c>GetStats</c>.</summary>
    public required TimeSpan Interval { get; init; }

    /// <summary>Connections open now, those still in their TLS, PROXY or session handshake included.</summary>
    public int ConnectionsNow { get; init; }
    /// <summary>Connections taken, including those refused at once: <see cref="ConnectionsNow"/> + <see cref="ClosedTotal"/>.</summary>
    public long AcceptedTotal { get; init; }
    /// <summary>Connections refused by admission: over <c>max_connections</c> or the descriptor reserve (reason <c>limit</c>), a per-address
    /// limit (<c>ip_limit</c>), <c>allow_from</c>/<c>deny_from</c> or the accept filter (<c>denied</c>), at accept or (behind a trusted proxy)
    /// at the PROXY header. Each is also counted in <see cref="ClosedTotal"/>. A failed TLS handshake or a refused PROXY header is not a
    /// refusal by admission: it is closed only (and counted in <see cref="TlsFailuresTotal"/> or <see cref="ProxyFailuresTotal"/>).</summary>
    public long RejectedTotal { get; init; }
    /// <summary>Connections that have closed, for any reason, refused ones included: one per <c>Disconnected</c> event.</summary>
    public long ClosedTotal { get; init; }

    /// <summary>
    /// Connections the stage closed that still hold their socket to finish a graceful close (<c>close_linger</c>): sending
    /// what they owe, waiting for the peer to read it and close. Not in <see cref="ConnectionsNow"/> (they are closed);
    /// at most <c>max_connections</c>. Back to 0 once every peer closed or the linger is over.
    /// </summary>
    public int LingeringNow { get; init; }
    /// <summary>Lingering closes cut short with a reset because more connections were lingering than <c>max_connections</c> allows (the oldest goes).</summary>
    public long LingeringResetTotal { get; init; }

    /// <summary>Bytes read from sockets, framing included.</summary>
    public long BytesReceivedTotal { get; init; }
    /// <summary>Messages decoded and published in packet groups.</summary>
    public long PacketsReceivedTotal { get; init; }
    /// <summary>Bytes written to sockets, framing included.</summary>
    public long BytesSentTotal { get; init; }
    /// <summary>Messages queued for sending, once per target connection (a broadcast to 3 counts 3).</summary>
    public long PacketsSentTotal { get; init; }

    /// <summary><see cref="BytesReceivedTotal"/> per second over <see cref="Interval"/>.</summary>
    public double BytesReceivedPerSecond { get; init; }
    /// <summary><see cref="PacketsReceivedTotal"/> per second over <see cref="Interval"/>.</summary>
    public double PacketsReceivedPerSecond { get; init; }
    /// <summary><see cref="BytesSentTotal"/> per second over <see cref="Interval"/>.</summary>
    public double BytesSentPerSecond { get; init; }
    /// <summary><see cref="PacketsSentTotal"/> per second over <see cref="Interval"/>.</summary>
    public double PacketsSentPerSecond { get; init; }

    /// <summary>Packet groups published on <c>&lt;stage&gt;/packet_group</c>.</summary>
    public long GroupsPublishedTotal { get; init; }
    /// <summary>Decoding errors: input the framing skipped or that closed its connection.</summary>
    public long FrameErrorsTotal { get; init; }
    /// <summary>Bytes of egress messages dropped: by the overflow policy, after a wait timed out, or sent while nobody could take them;
    /// and bytes still queued when their connection closed (a reset, a stop's grace period), which were counted sent in
    /// <see cref="PacketsSentTotal"/> and are counted here only, not in <see cref="EgressPacketsDroppedTotal"/> (they may be parts
    /// of messages). Counted encoded for a full connection or a close, as payload bytes otherwise.</summary>
    public long EgressBytesDroppedTotal { get; init; }
    /// <summary>TLS handshakes that failed (bad or missing certificates, protocol errors) or timed out.</summary>
    public long TlsFailuresTotal { get; init; }
    /// <summary>Connections closed for the PROXY protocol (reasons <c>proxy_protocol</c> and <c>proxy_header_timeout</c>): a trusted proxy's header missing, malformed or late, or a header from an untrusted address.</summary>
    public long ProxyFailuresTotal { get; init; }
    /// <summary>Egress messages dropped before they were queued (overflow policy, a wait timed out, nobody connected), once per target
    /// connection. Bytes lost with a closing connection's queue are in <see cref="EgressBytesDroppedTotal"/> only.</summary>
    public long EgressPacketsDroppedTotal { get; init; }
    /// <summary>Egress messages addressed to a connection id that is not (or no longer) connected.</summary>
    public long EgressUnknownTargetTotal { get; init; }
    /// <summary>Group joins refused, from any entry point (code, handlers, control commands): the connection was in
    /// <c>max_groups_per_connection</c> groups already, or the name was longer than <c>max_group_name_length</c>.</summary>
    public long GroupJoinsRefusedTotal { get; init; }
}
