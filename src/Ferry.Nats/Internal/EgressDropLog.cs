using Microsoft.Extensions.Logging;

namespace Ferry.Nats.Internal;

/// <summary>
/// Says the messages the NATS client drops (a subscription's queue of <c>max_pending_egress</c> is full: the gateway routes
/// egress slower than it comes; control commands share that size) once per streak: a warning at the first drop, naming the subject, and one line when
/// the streak ends, after <see cref="Quiet"/> without a drop, with how many were dropped, where, and over how long. Like
/// the outage lines, what lasts is said twice, not once per message: a drop can come thousands of times a second.
/// </summary>
/// <param name="logger">Where the lines go.</param>
/// <param name="stage">The stage named in them.</param>
/// <param name="capacity">Each subscription's queue (<c>max_pending_egress</c>).</param>
/// <param name="capacityOption">The option that sets it, as the reader of the gateway's options knows it (<see cref="NatsGatewayOptions.Say"/>).</param>
/// <param name="fate">What becomes of a dropped egress message in this delivery mode.</param>
/// <param name="controlSubject">The control subject: core NATS in both modes, so a command dropped there is lost whatever
/// <paramref name="fate"/> says of egress (in JetStream mode, that it is sent again).</param>
/// <param name="time">The clock of the quiet time.</param>
internal sealed class EgressDropLog(ILogger logger, string stage, int capacity, string capacityOption, string fate, string controlSubject, TimeProvider time) : IDisposable
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
        var control = subject == controlSubject;
        logger.LogWarning("stage {Stage}: the NATS client is dropping messages on {Subject}: the subscription's queue of {Capacity} messages ({Option}) is full, the gateway takes them slower than they come ({Example}); dropped messages are {Fate}, counted in client_dropped ({Total} so far); a summary follows when the drops stop",
            stage, subject, capacity, capacityOption, control ? "a storm of control commands" : "e.g. connections that do not read",
            control ? "lost (control commands are core NATS in both modes)" : fate, total);
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
            logger.LogWarning("stage {Stage}: the gateway stops while the NATS client drops messages: {Dropped} messages dropped over {Seconds:0.0} s on {Subjects} (client_dropped)",
                stage, dropped, seconds, where);
        else
            logger.LogWarning("stage {Stage}: the NATS client stopped dropping messages: {Dropped} messages dropped over {Seconds:0.0} s on {Subjects}, none for {QuietSeconds} s now (client_dropped)",
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
