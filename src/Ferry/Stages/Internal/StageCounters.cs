namespace Ferry.Stages.Internal;

/// <summary>
/// The stage's running totals: a ledger each part adds to. Fields marked "service thread" are written
/// by the loop alone and read elsewhere without a lock (a reader off the loop may lag by a message);
/// the egress ones are added to from any thread with interlocked operations.
/// </summary>
internal sealed class StageCounters
{
    // service thread
    public long Accepted;
    public long Rejected;
    public long Closed;
    public long BytesIn;
    public long PacketsIn;
    public long GroupsPublished;
    public long FrameErrors;
    /// <summary>TLS handshakes that failed or timed out (refused client certificates included).</summary>
    public long TlsFailures;
    /// <summary>Connections closed for the PROXY protocol: header missing, malformed, untrusted or late.</summary>
    public long ProxyFailures;
    /// <summary>Bytes written by connections that have closed (live ones keep their own count).</summary>
    public long BytesOutOfClosed;
    /// <summary>
    /// Packets read from clients whose group the stop never handed to the <c>packet_group</c> subscribers: the grace period
    /// ran out (or a second signal came) while a subscriber held the publish before them.
    /// </summary>
    public long IngressPacketsStopDropped;

    // any thread (interlocked)
    public long PacketsOut;
    public long EgressBytesDropped;
    public long EgressPacketsDropped;
    public long EgressUnknownTarget;
    /// <summary>Joins refused by <c>max_groups_per_connection</c> or <c>max_group_name_length</c>.</summary>
    public long GroupJoinsRefused;

    /// <summary>Egress bytes lost when their connection closed before they were written (whole messages are not known there).</summary>
    public void CountDroppedBytes(int bytes) => Interlocked.Add(ref EgressBytesDropped, bytes);

    public void CountDropped(int bytes)
    {
        Interlocked.Add(ref EgressBytesDropped, bytes);
        Interlocked.Increment(ref EgressPacketsDropped);
    }
}
