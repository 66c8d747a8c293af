namespace Ferry.Stages;

/// <summary>A client stage starts a connection attempt (number <see cref="Attempt"/> since the last success).</summary>
/// <param name="Stage">The stage's name.</param>
/// <param name="Time">When it happened (UTC, stage clock).</param>
/// <param name="Remote">The address being dialled, as configured (<c>host:port</c>).</param>
/// <param name="Attempt">The attempt's number since the last successful connection, from 1.</param>
public sealed record ConnectingEvent(string Stage, DateTimeOffset Time, string Remote, int Attempt) : StageEvent(Stage, Time);

/// <summary>An attempt failed (or a connection was lost); the next attempt follows after <see cref="RetryIn"/>, or never when <see cref="GivingUp"/>.</summary>
/// <param name="Stage">The stage's name.</param>
/// <param name="Time">When it happened (UTC, stage clock).</param>
/// <param name="Remote">The address dialled, as configured (<c>host:port</c>).</param>
/// <param name="Attempt">The failed attempt's number since the last successful connection.</param>
/// <param name="Reason">Why it failed (resolution, refusal, timeout, a TLS or session handshake that failed, loss).</param>
/// <param name="RetryIn">The wait before the next attempt, jitter included.</param>
/// <param name="GivingUp">True when <c>reconnect_attempts</c> is used up: the stage stops dialling.</param>
public sealed record ConnectFailedEvent(string Stage, DateTimeOffset Time, string Remote, int Attempt, string Reason, TimeSpan RetryIn, bool GivingUp)
    : StageEvent(Stage, Time);
