using Ferry.Connections;
using Ferry.Transport;

namespace Ferry.Stages.Internal;

/// <summary>
/// How connections come to a stage: accepted from a listener (<see cref="Acceptor"/>) or dialled
/// (<see cref="Dialer"/>). Composed into the <see cref="StageEngine"/>; runs on its service thread.
/// </summary>
internal interface IConnectionSource
{
    /// <summary>The loop started: bind, or schedule the first dial.</summary>
    void Start();

    /// <summary>The earliest time (stage clock, ms) a timer of the source is due; long.MaxValue for none.</summary>
    long NextDueMs { get; }

    void OnTimer();

    /// <summary>A readiness event for one of the source's own tokens (below <see cref="IReadiness.WakeToken"/>).</summary>
    void OnEvent(long token, ReadyFlags flags);

    /// <summary>A connection became ready for messages.</summary>
    void OnEstablished(Connection c);

    /// <summary>
    /// A connection is closing and about to leave the table, before anything about it is announced: what the source
    /// tells waiters (a client stage's readiness) must already say "not connected" when the table does.
    /// </summary>
    void OnLeaving(Connection c);

    /// <summary>
    /// Asked as <paramref name="c"/> closes for <paramref name="reason"/> (<paramref name="detail"/>), before the close is counted
    /// or announced: whether the peer in truth refused a TLS handshake that had finished only on this side, and then the
    /// detail to report that failed handshake with (reason <see cref="DisconnectReason.TlsError"/>, counted as a TLS failure);
    /// null when the close is what it says. Only a client stage's connections can be (see <see cref="Dialer"/>).
    /// </summary>
    string? RefusedAfterHandshake(Connection c, DisconnectReason reason, string? detail);

    /// <summary>A connection was closed, for <paramref name="reason"/> (and <paramref name="detail"/>), established or not.</summary>
    void OnClosed(Connection c, DisconnectReason reason, string? detail);

    /// <summary>Stopping: take no new connections.</summary>
    void StopAccepting();

    /// <summary>The loop has ended.</summary>
    void Stopped();
}
