using System.Net;
using Ferry.Connections;

namespace Ferry.Stages;

/// <summary>A lifecycle event of a stage, raised as a .NET event and published on <c>&lt;stage&gt;/events</c>.</summary>
/// <remarks>Events are raised on the stage's service thread (errors about egress and control commands on
/// the thread that sent them): handlers must be quick and must not wait on the stage. A handler that throws is logged and
/// the stage goes on.</remarks>
/// <param name="Stage">The stage's name.</param>
/// <param name="Time">When it happened (UTC, stage clock).</param>
public abstract record StageEvent(string Stage, DateTimeOffset Time);

/// <summary>The stage is bound and accepting (the seed's on_listening with its local address).</summary>
/// <param name="Stage">The stage's name.</param>
/// <param name="Time">When it happened (UTC, stage clock).</param>
/// <param name="LocalEndPoint">The bound address, with the real port when port 0 was asked for.</param>
public sealed record ListeningEvent(string Stage, DateTimeOffset Time, IPEndPoint LocalEndPoint) : StageEvent(Stage, Time);

/// <summary>A connection was accepted or dialled and is ready for messages (on_connect: session id and
/// remote address); with a session framing (<c>zmtp</c>) only once its handshake is done, and under TLS
/// after the TLS handshake.</summary>
/// <param name="Stage">The stage's name.</param>
/// <param name="Time">When it happened (UTC, stage clock).</param>
/// <param name="ConnectionId">The new connection's id.</param>
/// <param name="Peer">The remote address and port.</param>
/// <param name="Local">The local address and port of the connection.</param>
/// <param name="Tls">What TLS negotiated (protocol, cipher suite, SNI name, ALPN, peer certificate); null for plain connections.</param>
/// <param name="Via">The proxy the client came through, when a trusted proxy's PROXY header named the client as <paramref name="Peer"/>; null otherwise.</param>
public sealed record ConnectedEvent(string Stage, DateTimeOffset Time, ConnectionId ConnectionId, IPEndPoint Peer, IPEndPoint Local,
    TlsConnectionInfo? Tls = null, IPEndPoint? Via = null) : StageEvent(Stage, Time);

/// <summary>
/// A connection ended. <see cref="Code"/> and <see cref="Detail"/> carry what a kill-switch command
/// or the transport said (e.g. the errno of a reset). Connections refused over <c>max_connections</c>
/// get only this event, with reason <see cref="DisconnectReason.Limit"/>.
/// </summary>
/// <param name="Stage">The stage's name.</param>
/// <param name="Time">When it happened (UTC, stage clock).</param>
/// <param name="ConnectionId">The connection that ended.</param>
/// <param name="Peer">Its remote address and port.</param>
/// <param name="Reason">Why it ended.</param>
/// <param name="Detail">What the transport, the framing or a close command said; null when nothing.</param>
/// <param name="Code">The code given with a close command; null otherwise.</param>
public sealed record DisconnectedEvent(string Stage, DateTimeOffset Time, ConnectionId ConnectionId, IPEndPoint Peer,
    DisconnectReason Reason, string? Detail = null, string? Code = null) : StageEvent(Stage, Time)
{
    /// <summary><see cref="Reason"/> in snake_case as used on the bus, in JSON and in logs, e.g. <c>remote_closed</c>.</summary>
    public string ReasonName => Reason.ToName();

    /// <summary>The groups the connection was in when it ended (it has left them by the time this is raised); empty when none.</summary>
    public IReadOnlyList<string> Groups { get; init; } = [];

    /// <summary>
    /// Whether the connection ended before its TLS handshake finished: what tells a failed handshake from a TLS error on an
    /// established session (both <see cref="DisconnectReason.TlsError"/>) to the meter, as the stage's own count tells them
    /// apart, without reading the detail's words. A client stage's handshake that the server refused after the client's side of
    /// it was done (TLS 1.3 mutual TLS, see <see cref="TcpClientStageOptions.ReconnectAttempts"/>) is one too.
    /// </summary>
    internal bool DuringHandshake { get; init; }
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
/// <param name="Stage">The stage's name.</param>
/// <param name="Time">When it happened (UTC, stage clock).</param>
/// <param name="Kind">What failed.</param>
/// <param name="Message">A human-readable description.</param>
/// <param name="ConnectionId">The connection concerned, or <see cref="ConnectionId.None"/>.</param>
/// <param name="Skipped">For <see cref="StageErrorKind.Frame"/>: the bad bytes were skipped and the connection stays open.</param>
public sealed record StageErrorEvent(string Stage, DateTimeOffset Time, StageErrorKind Kind, string Message,
    ConnectionId ConnectionId = default, bool Skipped = false) : StageEvent(Stage, Time);

/// <summary>The stage has stopped: no listener, no connections, its thread has ended (on_close).</summary>
/// <param name="Stage">The stage's name.</param>
/// <param name="Time">When it happened (UTC, stage clock).</param>
public sealed record ClosedEvent(string Stage, DateTimeOffset Time) : StageEvent(Stage, Time);
