using System.Net;
using Ferry.Framing;

namespace Ferry.Connections;

/// <summary>
/// One accepted or dialled TCP connection. Ingress state is touched only by the stage's service
/// thread; egress state is guarded by <see cref="EgressLock"/> because any thread may send.
/// </summary>
internal sealed class Connection
{
    public Connection(int fd, uint generation, ConnectionId id, IPEndPoint peer, IPEndPoint local, IFrameDecoder? decoder, long nowMs)
    {
        OpenedAtMs = nowMs;
        Fd = fd;
        Generation = generation;
        Id = id;
        Peer = peer;
        Local = local;
        Decoder = decoder;
        ConnectedAtUtcTicks = DateTime.UtcNow.Ticks;
        LastReceiveTick = nowMs;
    }

    public int Fd { get; }

    /// <summary>Tells this connection apart from an earlier one that had the same descriptor number.</summary>
    public uint Generation { get; }

    public ConnectionId Id { get; }

    public IPEndPoint Peer { get; }

    public IPEndPoint Local { get; }

    public long ConnectedAtUtcTicks { get; }

    /// <summary>Position in the stage's connection list (swap-remove).</summary>
    public int Index { get; set; }

    /// <summary>When the connection opened (TickCount64 ms): the handshake deadline counts from here.</summary>
    public long OpenedAtMs { get; }

    // ---- ingress (service thread) ----
    /// <summary>The plain decoder, or the <see cref="IFramingSession"/> of a session framing; null for raw.</summary>
    public IFrameDecoder? Decoder { get; set; }

    /// <summary>The session of a session framing (the same object as <see cref="Decoder"/>).</summary>
    public IFramingSession? Session { get; set; }

    /// <summary>
    /// Whether messages may flow: at once for plain framings, after the handshake for session framings.
    /// Until then the connection takes no egress and is not announced as connected. Written by the
    /// service thread, read by any thread that routes egress.
    /// </summary>
    public volatile bool Established;
    public byte[]? Pending;
    public int PendingStart;
    public int PendingLength;
    public long LastReceiveTick;
    public long LastActivityUtcTicks;
    public long BytesIn;
    public long PacketsIn;
    public bool ReadShutdown;
    /// <summary>Close with a FIN even for a protocol error, so a refusal just written reaches the peer.</summary>
    public bool CloseGracefully;

    // ---- egress (under EgressLock) ----
    public readonly Lock EgressLock = new();
    public readonly EgressBuffer Egress = new();
    public bool FlushScheduled;
    public bool Closed;
    public long PacketsOut;
    public long EgressBytesDropped;
    public long EgressPacketsDropped;
    /// <summary>send() calls made for this connection: shows how well egress writes are gathered.</summary>
    public long SendCalls;
    /// <summary>A publisher held by the <c>wait</c> overflow policy, released when a flush makes room.</summary>
    public TaskCompletionSource? SpaceWaiter;

    // ---- groups (under the stage's group lock) ----
    public List<string>? Groups;

    // ---- egress (service thread) ----
    public bool WantsWritable;
    public long BytesOut;

    /// <summary>Set when another thread asks for the connection to be closed; the service thread acts on it.</summary>
    public CloseRequest? CloseRequested;
}

/// <summary>A request to close a connection, made off the service thread.</summary>
internal sealed record CloseRequest(DisconnectReason Reason, string? Detail, string? Code);
