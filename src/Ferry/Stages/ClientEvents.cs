namespace Ferry.Stages;

/// <summary>A client stage starts a connection attempt (number <see cref="Attempt"/> since the last success).</summary>
public sealed record ConnectingEvent(string Stage, DateTimeOffset Time, string Remote, int Attempt) : StageEvent(Stage, Time);

/// <summary>An attempt failed (or a connection was lost); the next attempt follows after <see cref="RetryIn"/>, or never when <see cref="GivingUp"/>.</summary>
public sealed record ConnectFailedEvent(string Stage, DateTimeOffset Time, string Remote, int Attempt, string Reason, TimeSpan RetryIn, bool GivingUp)
    : StageEvent(Stage, Time);
