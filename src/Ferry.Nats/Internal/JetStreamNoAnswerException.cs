using System.Globalization;

namespace Ferry.Nats.Internal;

/// <summary>
/// A JetStream API request that a server advertising JetStream in its INFO left unanswered within the request timeout:
/// the server is there but busy, paused or stuck. It used to be told as "JetStream is not enabled", the words for a
/// server without JetStream, whose requests get "no responders" at once; that sent the operator to the server's
/// configuration instead of its load. A start retries the step that met it (<see cref="JetStreamStartRetry"/>).
/// </summary>
internal sealed class JetStreamNoAnswerException : InvalidOperationException
{
    /// <param name="url">The server.</param>
    /// <param name="request">The request in the operator's words, e.g. <c>create stream 'ferry_pos_in'</c>.</param>
    /// <param name="timeout">How long the client waited for the answer (the JetStream context's request timeout).</param>
    /// <param name="waits">The waits between the tries made so far: none after the first.</param>
    /// <param name="inner">The client's exception (NatsJSApiNoResponseException).</param>
    public JetStreamNoAnswerException(string url, string request, TimeSpan timeout, IReadOnlyList<TimeSpan> waits, Exception inner)
        : base(Describe(NatsUrlText.Redacted(url), request, timeout, waits), inner)
        => (Url, Request, Timeout, Waits) = (url, request, timeout, waits);

    public string Url { get; }

    public string Request { get; }

    public TimeSpan Timeout { get; }

    /// <summary>The waits between the tries made (empty: one try).</summary>
    public IReadOnlyList<TimeSpan> Waits { get; }

    /// <summary>The same no-answer after the last of its tries, <paramref name="waits"/> apart.</summary>
    public JetStreamNoAnswerException AfterTries(IReadOnlyList<TimeSpan> waits) => new(Url, Request, Timeout, waits, InnerException!);

    private static string Describe(string url, string request, TimeSpan timeout, IReadOnlyList<TimeSpan> waits)
    {
        var tries = waits.Count == 0 ? ""
            : $", on any of {waits.Count + 1} tries {Seconds(waits)} s apart";
        return $"NATS server {url} has JetStream (its INFO says so) but did not answer the JetStream request {request} within {S(timeout)} s{tries}; "
            + "it is there but busy, paused or stuck (overloaded, stopped by a signal or a debugger, its JetStream store on a slow or full disk): "
            + "look at the server's load and log (its /jsz monitoring endpoint, if enabled), then start the gateway again once it answers";
    }

    /// <summary>1, 2 and 4.</summary>
    private static string Seconds(IReadOnlyList<TimeSpan> waits) => waits.Count == 1 ? S(waits[0])
        : string.Join(", ", waits.Take(waits.Count - 1).Select(S)) + " and " + S(waits[^1]);

    private static string S(TimeSpan span) => span.TotalSeconds.ToString("0.###", CultureInfo.InvariantCulture);
}
