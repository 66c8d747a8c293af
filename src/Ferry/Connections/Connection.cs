using System.Net;
using Ferry.Framing;

namespace Ferry.Connections;

/// <summary>
/// One accepted or dialled TCP connection. Ingress state is touched only by the stage's service
/// thread; egress state is guarded by <see cref="EgressLock"/> because any thread may send.
/// </summary>
internal sealed class Connection
{
    public Connection(int fd, uint generation, ConnectionId id, IPEndPoint peer, IPEndPoint local, IFrameDecoder? decoder, long nowTicks)
    {
        Fd = fd;
        Generation = generation;
        Id = id;
        Peer = peer;
        Local = local;
        Decoder = decoder;
        ConnectedAtUtcTicks = DateTime.UtcNow.Ticks;
        LastReceiveTick = nowTicks;
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

    // ---- ingress (service thread) ----
    public IFrameDecoder? Decoder { get; }
    public byte[]? Pending;
    public int PendingStart;
    public int PendingLength;
    public long LastReceiveTick;
    public long LastActivityUtcTicks;
    public long BytesIn;
    public long PacketsIn;
    public bool ReadShutdown;

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
