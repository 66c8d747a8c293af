using Microsoft.Extensions.Logging;

namespace Ferry.Nats.Internal;

/// <summary>
/// Says the egress messages the NATS client drops (a subscription's queue of <c>max_pending_egress</c> is full: the stage
/// routes them slower than they come) once per streak: a warning at the first drop, naming the subject, and one line when
/// the streak ends, after <see cref="Quiet"/> without a drop, with how many were dropped, where, and over how long. Like
/// the outage lines, what lasts is said twice, not once per message: a drop can come thousands of times a second.
/// </summary>
internal sealed class EgressDropLog(ILogger logger, string stage, int capacity, TimeProvider time) : IDisposable
{
    /// <summary>How long without a drop ends a streak.</summary>
    public static readonly TimeSpan Quiet = TimeSpan.FromSeconds(10);

    private readonly Lock _lock = new();
    private readonly Dictionary<string, long> _bySubject = [];
    private ITimer? _check;
    private long _since;
    private long _lastAt;
    private bool _disposed;

    /// <summary>One message dropped on <paramref name="subject"/>; <paramref name="total"/> is the gateway's <c>client_dropped</c> now.</summary>
    public void Dropped(string subject, long total)
    {
        lock (_lock)
        {
            if (_disposed)
                return;
            _lastAt = time.GetTimestamp();
            _bySubject[subject] = _bySubject.GetValueOrDefault(subject) + 1;
            if (_check is not null)
                return;
            _since = _lastAt;
            _check = time.CreateTimer(_ => End(atDispose: false), null, Quiet, Timeout.InfiniteTimeSpan);
        }
        logger.LogWarning("stage {Stage}: the NATS client is dropping egress on {Subject}: the subscription's queue of {Capacity} messages (max_pending_egress) is full, the stage's connections take egress slower than it comes; dropped messages are lost and counted in client_dropped ({Total} so far), a summary follows when the drops stop",
            stage, subject, capacity, total);
    }

    /// <summary>
    /// Ends the streak once <see cref="Quiet"/> passed since the last drop (or at once when the gateway is disposed), and
    /// says what it lost; while drops go on, looks again when the last one is <see cref="Quiet"/> old.
    /// </summary>
    private void End(bool atDispose)
    {
        string where;
        long dropped;
        double seconds;
        lock (_lock)
        {
            if (_check is null)
                return;
            var quietFor = time.GetElapsedTime(_lastAt);
            if (!atDispose && quietFor < Quiet)
            {
                _check.Change(Quiet - quietFor, Timeout.InfiniteTimeSpan);
                return;
            }
            _check.Dispose();
            _check = null;
            dropped = _bySubject.Values.Sum();
            where = string.Join(", ", _bySubject.Select(s => $"{s.Key} ({s.Value})"));
            seconds = time.GetElapsedTime(_since, _lastAt).TotalSeconds;
            _bySubject.Clear();
        }
        if (atDispose)
            logger.LogWarning("stage {Stage}: the gateway stops while the NATS client drops egress: {Dropped} messages dropped over {Seconds:0.0} s on {Subjects} (client_dropped)",
                stage, dropped, seconds, where);
        else
            logger.LogWarning("stage {Stage}: the NATS client stopped dropping egress: {Dropped} messages dropped over {Seconds:0.0} s on {Subjects}, none for {QuietSeconds} s now (client_dropped)",
                stage, dropped, seconds, where, Quiet.TotalSeconds);
    }

    /// <summary>Says a streak still open, and drops no more are said.</summary>
    public void Dispose()
    {
        End(atDispose: true);
        lock (_lock)
            _disposed = true;
    }
}
