namespace Ferry.Stages;

/// <summary>
/// A stage's figures, published once a second on <c>&lt;stage&gt;/socket_stats</c>. Totals count
/// from the stage's start; rates are over the last interval.
/// </summary>
public sealed record SocketStats
{
    public required string Stage { get; init; }
    public required DateTimeOffset Time { get; init; }
    /// <summary>Length of the interval the rates are over.</summary>
    public required TimeSpan Interval { get; init; }

    public int ConnectionsNow { get; init; }
    public long AcceptedTotal { get; init; }
    public long RejectedTotal { get; init; }
    public long ClosedTotal { get; init; }

    public long BytesReceivedTotal { get; init; }
    public long PacketsReceivedTotal { get; init; }
    public long BytesSentTotal { get; init; }
    public long PacketsSentTotal { get; init; }

    public double BytesReceivedPerSecond { get; init; }
    public double PacketsReceivedPerSecond { get; init; }
    public double BytesSentPerSecond { get; init; }
    public double PacketsSentPerSecond { get; init; }

    public long GroupsPublishedTotal { get; init; }
    public long FrameErrorsTotal { get; init; }
    /// <summary>TLS handshakes that failed (bad or missing certificates, protocol errors) or timed out.</summary>
    public long TlsFailuresTotal { get; init; }
    public long EgressBytesDroppedTotal { get; init; }
    public long EgressPacketsDroppedTotal { get; init; }
    /// <summary>Egress messages addressed to a connection id that is not (or no longer) connected.</summary>
    public long EgressUnknownTargetTotal { get; init; }
}
