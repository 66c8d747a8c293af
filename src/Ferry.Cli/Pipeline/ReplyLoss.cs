namespace Ferry.Cli.Pipeline;

/// <summary>
/// Counts what a <c>target: reply</c> route pair lost, and tells the operator: requests that will get no
/// answer (not sent, or sent on an upstream connection that ended) and answers that no request waited
/// for (dropped, never given to another client). Reported as an <c>error</c> line at the first loss and
/// then at most once a second, with the totals, so a flood of losses does not flood the output.
/// </summary>
internal sealed class ReplyLoss(string upstream, string downstream, Action<string> report, TimeProvider time)
{
    private static readonly TimeSpan ReportEvery = TimeSpan.FromSeconds(1);

    private readonly Lock _gate = new();
    private long _unanswered;
    private long _unmatched;
    private long _lastReport = long.MinValue;

    /// <summary>Requests that will get no answer.</summary>
    public long Unanswered => Interlocked.Read(ref _unanswered);

    /// <summary>Answers dropped because no request on their upstream connection waited for them.</summary>
    public long Unmatched => Interlocked.Read(ref _unmatched);

    /// <summary><paramref name="count"/> requests from '<c>downstream</c>' get no answer, because <paramref name="why"/>.</summary>
    public void Unanswer(int count, string why)
    {
        if (count <= 0)
            return;
        Interlocked.Add(ref _unanswered, count);
        Report(why);
    }

    /// <summary>An answer from '<c>upstream</c>' had no request waiting on its connection and was dropped.</summary>
    public void Unmatch()
    {
        Interlocked.Increment(ref _unmatched);
        Report($"an answer from '{upstream}' came with no request of '{downstream}' waiting on that connection; it was dropped");
    }

    private void Report(string what)
    {
        lock (_gate)
        {
            var now = time.GetTimestamp();
            if (_lastReport != long.MinValue && time.GetElapsedTime(_lastReport, now) < ReportEvery)
                return;
            _lastReport = now;
        }
        report($"reply {upstream} -> {downstream}: {what} (so far: {Unanswered} requests without an answer, {Unmatched} answers dropped)");
    }
}
