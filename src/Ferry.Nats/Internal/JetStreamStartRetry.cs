using Microsoft.Extensions.Logging;

namespace Ferry.Nats.Internal;

/// <summary>
/// The start's patience with a server that has JetStream but did not answer a setup request (<see cref="JetStreamNoAnswerException"/>):
/// a server busy for a moment (a restart's recovery of its store, a burst of load) should not fail every gateway started
/// meanwhile. Each setup step gets <see cref="Tries"/> tries, <see cref="Waits"/> apart, each retry said as a warning; after
/// the last the step's no-answer fails the start, saying how often it was asked. Anything else (a server without JetStream,
/// a refusal) fails it at once: asking again would get the same answer.
/// </summary>
/// <param name="logger">The gateway's logger.</param>
/// <param name="stage">The stage's name, for the warnings.</param>
/// <param name="time">The clock of the waits: the gateway's.</param>
internal sealed class JetStreamStartRetry(ILogger logger, string stage, TimeProvider time)
{
    /// <summary>Between the tries: 7 s in all, besides the request timeouts.</summary>
    public static readonly IReadOnlyList<TimeSpan> Waits = [TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(2), TimeSpan.FromSeconds(4)];

    public static int Tries => Waits.Count + 1;

    /// <param name="step">One setup step, tried again as a whole (each step finds what an unanswered try may have done after all).</param>
    /// <param name="cancellationToken">Ends the waits.</param>
    /// <exception cref="JetStreamNoAnswerException">The last try went unanswered too: its message counts the tries.</exception>
    public async Task<T> RunAsync<T>(Func<Task<T>> step, CancellationToken cancellationToken)
    {
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                return await step().ConfigureAwait(false);
            }
            catch (JetStreamNoAnswerException ex) when (attempt < Tries)
            {
                var wait = Waits[attempt - 1];
                // The timer is set before the line is written: whoever acts on the line (a test that moves a fake clock) finds it set.
                var waiting = Task.Delay(wait, time, cancellationToken);
                logger.LogWarning("stage {Stage}: NATS server {Url} has JetStream but did not answer the JetStream request {Request} within {Timeout} s "
                    + "(try {Try} of {Tries}); trying again in {Wait} s",
                    stage, ex.Url, ex.Request, ex.Timeout.TotalSeconds, attempt, Tries, wait.TotalSeconds);
                await waiting.ConfigureAwait(false);
            }
            catch (JetStreamNoAnswerException ex)
            {
                throw ex.AfterTries(Waits);
            }
        }
    }
}
