using Microsoft.Extensions.Logging;

namespace Ferry.Nats.Internal;

/// <summary>
/// Recreates a stream when it goes missing while the gateway runs (an operator deleted it). Ingress: its publishes find
/// no responder though the broker is connected. Egress: the gateway's consumers find their stream gone. Each such
/// failure calls <see cref="Nudge"/>, and one attempt at a time creates the stream again with the configuration it had
/// at start (egress: with the gateway's consumers). Both used to stay missing until a restart: the stage's reading
/// stopped once the JetStream window was full of unacknowledged publishes, or no egress reached a client. Attempts are at least
/// <see cref="FirstWait"/> apart, doubling up to <see cref="MaxWait"/> while they fail (the server refuses: no
/// JetStream, limits, another stream on the subject), so a broker that keeps refusing is asked rarely, never in a loop;
/// a recreation is said once (warning: what the deleted stream held is gone), a refusal once per streak.
/// </summary>
/// <param name="what">Which stream, and what is said about it.</param>
/// <param name="recreate">Creates it unless it exists: true when it did, false when it exists; throws when refused.</param>
/// <param name="describe">What an exception of <paramref name="recreate"/> means, in the operator's words.</param>
/// <param name="logger">Where it is said.</param>
/// <param name="time">The clock of the waits.</param>
/// <param name="stopping">Set when the gateway stops: no attempt after it.</param>
internal sealed class StreamRecreator(RecreatedStream what, Func<CancellationToken, Task<bool>> recreate, Func<Exception, string> describe,
    ILogger logger, TimeProvider time, CancellationToken stopping)
{
    public static readonly TimeSpan FirstWait = TimeSpan.FromSeconds(1);
    public static readonly TimeSpan MaxWait = TimeSpan.FromSeconds(30);

    private readonly Lock _lock = new();
    private Task _attempt = Task.CompletedTask;
    private bool _running;
    private long _notBefore;
    private bool _started;
    private TimeSpan _wait = FirstWait;
    private bool _refusalSaid;

    /// <summary>A publish or a consumer found the stream missing: starts an attempt unless one runs or the last was too recent.</summary>
    /// <returns>The attempt (or the last one): the tests wait for it.</returns>
    public Task Nudge()
    {
        lock (_lock)
        {
            if (_running || stopping.IsCancellationRequested || (_started && time.GetTimestamp() < _notBefore))
                return _attempt;
            _running = true;
            _started = true;
            return _attempt = AttemptAsync();
        }
    }

    private async Task AttemptAsync()
    {
        // Off the caller's thread, which only nudged.
        await Task.Yield();
        TimeSpan wait;
        try
        {
            if (await recreate(stopping).ConfigureAwait(false))
                logger.LogWarning("{Role} stream {Stream} ({Option}) was missing while the gateway runs (deleted?): recreated it with the configuration it had at start; {Then}; what the deleted stream held is gone",
                    what.Role, what.Stream, what.Option, what.Then);
            wait = Succeeded();
        }
        catch (Exception ex) when (!stopping.IsCancellationRequested)
        {
            wait = Refused(ex);
        }
        catch (Exception)
        {
            wait = FirstWait;
        }
        lock (_lock)
        {
            _notBefore = time.GetTimestamp() + (long)(wait.TotalSeconds * time.TimestampFrequency);
            _running = false;
        }
    }

    private TimeSpan Succeeded()
    {
        // Said only after a refusal was: the recreation line above, or nothing (the stream was there: a publish raced its creation).
        if (_refusalSaid)
        {
            _refusalSaid = false;
            logger.LogInformation("{Role} stream {Stream} ({Option}) takes {Subject} again", what.Role, what.Stream, what.Option, what.Subject);
        }
        _wait = FirstWait;
        return FirstWait;
    }

    private TimeSpan Refused(Exception ex)
    {
        var wait = _wait;
        _wait = TimeSpan.FromTicks(Math.Min(_wait.Ticks * 2, MaxWait.Ticks));
        if (!_refusalSaid)
        {
            _refusalSaid = true;
            logger.LogWarning("{Role} stream {Stream} ({Option}) is missing and cannot be recreated: {Reason}; trying again at most every {WaitSeconds:0.#} to {MaxSeconds:0} s while {Meanwhile}",
                what.Role, what.Stream, what.Option, describe(ex), wait.TotalSeconds, MaxWait.TotalSeconds, what.Meanwhile);
        }
        else
            logger.LogDebug(ex, "{Role} stream {Stream}: recreation refused again ({Reason})", what.Role, what.Stream, describe(ex));
        return wait;
    }
}
