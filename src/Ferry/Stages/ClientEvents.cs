namespace Ferry.Stages;

/// <summary>A client stage starts a connection attempt (number <see cref="Attempt"/> since the last success).</summary>
/// <param name="Stage">The stage's name.</param>
/// <param name="Time">When it happened (UTC, stage clock).</param>
/// <param name="Remote">The address being dialled, as configured (<c>host:port</c>).</param>
/// <param name="Attempt">The attempt's number since the last successful connection, from 1.</param>
public sealed record ConnectingEvent(string Stage, DateTimeOffset Time, string Remote, int Attempt) : StageEvent(Stage, Time);

/// <summary>An attempt failed, or an established connection ended; the next attempt follows after <see cref="RetryIn"/>, or never when
/// <see cref="GivingUp"/>.</summary>
/// <param name="Stage">The stage's name.</param>
/// <param name="Time">When it happened (UTC, stage clock).</param>
/// <param name="Remote">The address dialled, as configured (<c>host:port</c>).</param>
/// <param name="Attempt">For a failed attempt, its number since the last successful connection (from 1; what counts against
/// <c>reconnect_attempts</c>). For an established connection that ended, 0: no attempt has failed since that connection (the
/// count starts again after a success), and <paramref name="Reason"/> says why it ended.</param>
/// <param name="Reason">Why: the attempt's failure (resolution, refusal, timeout, a TLS or session handshake that failed), or for an
/// established connection <c>connection to ADDRESS ended (REASON)</c> with the disconnect's reason as in <see cref="DisconnectedEvent"/>
/// (<c>remote_closed</c>, <c>reset: ECONNRESET</c>, <c>idle_timeout</c>, <c>killed</c>, …).</param>
/// <param name="RetryIn">The wait before the next attempt, jitter included.</param>
/// <param name="GivingUp">True when <c>reconnect_attempts</c> is used up: the stage stops dialling.</param>
public sealed record ConnectFailedEvent(string Stage, DateTimeOffset Time, string Remote, int Attempt, string Reason, TimeSpan RetryIn, bool GivingUp)
    : StageEvent(Stage, Time)
{
    /// <summary>An established connection ended (no attempt failed); for the bridge, which reports those as a peer gone.</summary>
    internal bool ConnectionLost { get; init; }
}
