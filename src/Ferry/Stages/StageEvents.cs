using System.Net;
using Ferry.Connections;

namespace Ferry.Stages;

/// <summary>A lifecycle event of a stage, raised as a .NET event and published on <c>&lt;stage&gt;/events</c>.</summary>
public abstract record StageEvent(string Stage, DateTimeOffset Time);

/// <summary>The stage is bound and accepting (the seed's on_listening with its local address).</summary>
public sealed record ListeningEvent(string Stage, DateTimeOffset Time, IPEndPoint LocalEndPoint) : StageEvent(Stage, Time);

/// <summary>
/// A client was accepted (on_connect: session id and remote address). Under TLS it is raised after the
/// handshake, and <see cref="Tls"/> says what was negotiated; null for plain connections.
/// </summary>
public sealed record ConnectedEvent(string Stage, DateTimeOffset Time, ConnectionId ConnectionId, IPEndPoint Peer, IPEndPoint Local,
    TlsConnectionInfo? Tls = null) : StageEvent(Stage, Time);

/// <summary>
/// A connection ended. <see cref="Code"/> and <see cref="Detail"/> carry what a kill-switch command
/// or the transport said (e.g. the errno of a reset). Connections refused over <c>max_connections</c>
/// get only this event, with reason <see cref="DisconnectReason.Limit"/>.
/// </summary>
public sealed record DisconnectedEvent(string Stage, DateTimeOffset Time, ConnectionId ConnectionId, IPEndPoint Peer,
    DisconnectReason Reason, string? Detail = null, string? Code = null) : StageEvent(Stage, Time)
{
    public string ReasonName => Reason.ToName();
}

/// <summary>What kind of failure an <see cref="StageErrorEvent"/> reports.</summary>
public enum StageErrorKind
{
    /// <summary>The listen address could not be bound; the stage retries.</summary>
    Bind,
    /// <summary>Accepting failed; the listener is being rebuilt or accepting paused.</summary>
    Accept,
    /// <summary>A client sent bytes the framing rejects.</summary>
    Frame,
    /// <summary>An egress message could not be delivered as asked.</summary>
    Egress,
    /// <summary>A control command was invalid.</summary>
    Control,
    /// <summary>A socket option, thread priority or affinity could not be applied.</summary>
    Setup,
    /// <summary>A subscriber or event handler threw.</summary>
    Handler,
}

/// <summary>
/// Something went wrong; the stage keeps running (bind failures are retried). <see cref="Skipped"/> is
/// true for a <see cref="StageErrorKind.Frame"/> error whose bytes were dropped while the connection
/// goes on (<c>on_error=skip</c>), false when the connection is closed for it.
/// </summary>
public sealed record StageErrorEvent(string Stage, DateTimeOffset Time, StageErrorKind Kind, string Message,
    ConnectionId ConnectionId = default, bool Skipped = false) : StageEvent(Stage, Time);

/// <summary>The stage has stopped: no listener, no connections, its thread has ended (on_close).</summary>
public sealed record ClosedEvent(string Stage, DateTimeOffset Time) : StageEvent(Stage, Time);
