using System.Net;
using Ferry.Framing;
using Ferry.Transport;

namespace Ferry.Connections;

/// <summary>
/// One accepted or dialled TCP connection: the state every part of a stage keeps per connection,
/// grouped by who owns it. Ingress state is the service thread's; egress state is guarded by
/// <see cref="EgressLock"/> because any thread may send; group membership by the group registry's lock.
/// </summary>
/// <remarks>
/// Why one class with about 30 fields instead of one object per owner: an idle connection must cost
/// one small allocation (a gateway holds tens of thousands), and the hot path touches ingress and
/// egress state of the same connection in one round. Each block below names its owner, and only that
/// part of the stage writes it.
/// </remarks>
internal sealed class Connection
{
    public Connection(IConnectionIo io, int slot, uint generation, ConnectionId id, IPEndPoint peer, IPEndPoint local, long nowMs, long nowUtcTicks)
    {
        Io = io;
        Slot = slot;
        Generation = generation;
        Id = id;
        Peer = peer;
        Local = local;
        OpenedAtMs = nowMs;
        LastReceiveMs = nowMs;
        ConnectedAtUtcTicks = nowUtcTicks;
        LastActivityUtcTicks = nowUtcTicks;
    }

    /// <summary>How bytes come in and go out (the transport seam).</summary>
    public IConnectionIo Io { get; }

    /// <summary>The connection table's slot: the low half of the readiness token.</summary>
    public int Slot { get; }

    /// <summary>Tells this connection apart from an earlier one in the same slot (the token's high half).</summary>
    public uint Generation { get; }

    public ConnectionId Id { get; }

    /// <summary>
    /// The client: the socket's peer, or the real client a trusted proxy's PROXY header names (set once,
    /// by the service thread, before the connection is established).
    /// </summary>
    public IPEndPoint Peer { get; set; }

    /// <summary>The proxy the connection came through (the socket's peer) when a PROXY header named the client; null otherwise.</summary>
    public IPEndPoint? Via { get; set; }

    public IPEndPoint Local { get; }

    public long ConnectedAtUtcTicks { get; }

    /// <summary>When the connection opened (stage clock, ms): the handshake deadline counts from here.</summary>
    public long OpenedAtMs { get; }

    /// <summary>Readiness token: generation in the high half, slot in the low half.</summary>
    public long Token => ((long)Generation << 32) | (uint)Slot;

    // ---- connection table (under its lock) ----
    /// <summary>Position in the table's dense list (swap-remove).</summary>
    public int Index;

    /// <summary>
    /// Whether messages may flow: at once for plain framings, after the handshake for session framings.
    /// Until then the connection takes no egress and is not announced. Written by the service thread
    /// under the table lock, read by any thread that routes egress.
    /// </summary>
    public volatile bool Established;

    /// <summary>The transport's handshake (TLS) has not finished: no messages, not announced. Service thread.</summary>
    public bool HandshakePending;

    /// <summary>What the TLS handshake negotiated; null for plain connections. Set once by the service thread.</summary>
    public Stages.TlsConnectionInfo? Tls;

    // ---- PROXY header and admission (service thread) ----
    /// <summary>What is still to do about a PROXY header before the framing sees the bytes.</summary>
    public ProxyHeaderState ProxyHeader;
    /// <summary>The connection is counted under its peer's address by admission control (per-address limits).</summary>
    public bool AdmissionCounted;

    // ---- frame reader (service thread) ----
    /// <summary>The plain decoder, or the <see cref="IFramingSession"/> of a session framing; null for raw.</summary>
    public IFrameDecoder? Decoder;
    /// <summary>The session of a session framing (the same object as <see cref="Decoder"/>).</summary>
    public IFramingSession? Session;
    /// <summary>An unfinished frame, kept between reads in a rented buffer; null when there is none.</summary>
    public byte[]? Pending;
    public int PendingStart;
    public int PendingLength;
    /// <summary>When the unfinished frame in <see cref="Pending"/> started (stage clock, ms): the frame deadline counts from here.</summary>
    public long PartialSinceMs;
    /// <summary>
    /// The decoder is dropping the rest of a bad frame (on_error=skip) that began at <see cref="PartialSinceMs"/>: a frame is
    /// unfinished though nothing is buffered. Set after a read that skipped, cleared once the skip is over.
    /// </summary>
    public bool SkippingFrame;
    public long LastReceiveMs;
    public long LastActivityUtcTicks;
    public long BytesIn;
    public long PacketsIn;
    /// <summary>Close with a FIN even for a protocol error, so a refusal just written reaches the peer.</summary>
    public bool CloseGracefully;

    // ---- connection writer (under EgressLock) ----
    public readonly Lock EgressLock = new();
    public readonly EgressBuffer Egress = new();
    public bool FlushScheduled;
    public bool Closed;
    public long PacketsOut;
    public long BytesOut;
    public long EgressBytesDropped;
    public long EgressPacketsDropped;
    /// <summary>send() calls made for this connection: shows how well egress writes are gathered.</summary>
    public long SendCalls;
    /// <summary>A publisher held by the <c>wait</c> overflow policy, released when a flush makes room.</summary>
    public TaskCompletionSource? SpaceWaiter;
    /// <summary>Set once a close was asked for off the service thread; the service thread acts on it.</summary>
    public CloseRequest? CloseRequested;
    /// <summary>
    /// A close was asked for (the kill switch, a connection handler's end, a slow consumer): it takes no new messages,
    /// whose senders would be told they were queued while the close drops or cuts them.
    /// </summary>
    public volatile bool Closing;

    // ---- connection writer (service thread) ----
    /// <summary>Whether readiness watches for room to write (something is queued the kernel did not take).</summary>
    public bool WantsWritable;
    /// <summary>Reads are paused: this connection's packets were being published when a message for a full
    /// connection was taken on the service thread under the <c>wait</c> policy.</summary>
    public bool ReadPaused;
    /// <summary>The peer has finished sending (a FIN) while egress was queued: the connection is no longer
    /// read and closes once what was queued for it has been written.</summary>
    public bool PeerFinished;
    /// <summary>After the peer finished sending, the connection stays open for answers until then (stage ms,
    /// <c>half_close_linger</c>); 0 when it does not linger (any more).</summary>
    public long LingerUntilMs;
    /// <summary>The connections paused for this one's sake, resumed when it has room again (or closes).</summary>
    public List<Connection>? HeldSources;
    /// <summary>While this connection holds sources: when egress_wait_timeout runs out (stage ms); long.MaxValue when it holds none.</summary>
    public long HoldDeadlineMs = long.MaxValue;

    // ---- group registry (under its lock) ----
    public List<string>? Groups;

    // ---- connection handlers (MapConnections) ----
    /// <summary>The bounded queue of messages for this connection's handler; null when the stage has no connection handler.</summary>
    public Stages.Internal.ConnectionInbox? Inbox;
    /// <summary>Reads are paused because the handler's inbox is full; resumed when it drains. Service thread.</summary>
    public bool InboxFull;
}

/// <summary>Where a connection stands with the PROXY protocol.</summary>
internal enum ProxyHeaderState : byte
{
    /// <summary>Nothing to do: the bytes are the client's.</summary>
    None,
    /// <summary>From a trusted proxy: a header must come first.</summary>
    Expected,
    /// <summary>From anywhere else: the first read is looked at, and a header there is refused.</summary>
    Screen,
}

/// <summary>A request to close a connection, made off the service thread or from a handler on it.</summary>
internal sealed record CloseRequest(DisconnectReason Reason, string? Detail, string? Code)
{
    /// <summary>Write what is queued before closing (a handler that answered and returned, a handler's own close, the kill switch), with a FIN.</summary>
    public bool Flush { get; init; }
}
