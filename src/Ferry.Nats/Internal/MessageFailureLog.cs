using Microsoft.Extensions.Logging;

namespace Ferry.Nats.Internal;

/// <summary>
/// Says the messages whose handling failed with an exception the gateway did not expect (a fault of the gateway, of
/// the stage or of a custom framing, not bad input, which is a rejection with its own reason): at error level, the
/// first at once with its exception, later ones at most once per <see cref="Interval"/> with how many were left unsaid
/// meanwhile, so a message that fails every time it comes (a flood of them, or one redelivered) cannot fill the log.
/// </summary>
/// <param name="logger">Where the lines go.</param>
/// <param name="stage">The stage named in them.</param>
/// <param name="time">The clock of the interval.</param>
internal sealed class MessageFailureLog(ILogger logger, string stage, TimeProvider time)
{
    /// <summary>At most one line per this interval.</summary>
    public static readonly TimeSpan Interval = TimeSpan.FromSeconds(10);

    private readonly Lock _lock = new();
    private long _lastAt;
    private bool _said;
    private long _unsaid;

    /// <summary>One message failed.</summary>
    /// <param name="what">What the message was, e.g. <c>egress message</c>.</param>
    /// <param name="subject">The subject it came on.</param>
    /// <param name="error">What it failed with.</param>
    /// <param name="fate">What became of it, e.g. <c>lost, counted in egress_rejected</c>.</param>
    public void Failed(string what, string subject, Exception error, string fate)
    {
        long unsaid;
        lock (_lock)
        {
            var now = time.GetTimestamp();
            if (_said && time.GetElapsedTime(_lastAt, now) < Interval)
            {
                _unsaid++;
                return;
            }
            _said = true;
            _lastAt = now;
            unsaid = _unsaid;
            _unsaid = 0;
        }
        logger.LogError(error, "stage {Stage}: {What} on {Subject} failed ({Type}: {Reason}); it is {Fate}; the gateway goes on with the next message ({Unsaid} more failure(s) since the last such line, which are said at most once per {Seconds} s)",
            stage, what, subject, error.GetType().Name, error.Message, fate, unsaid, Interval.TotalSeconds);
    }
}
