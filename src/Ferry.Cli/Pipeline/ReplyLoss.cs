namespace Ferry.Cli.Pipeline;

/// <summary>
/// Counts what a <c>target: reply</c> route pair lost, and tells the operator: requests that will get no
/// answer (not sent, or sent on an upstream connection that ended), answers that no request waited
/// for (dropped, never given to another client) and answers their client could not take (it left, or its egress was full). Reported as an <c>error</c> line at the first loss and
/// then at most once a second, with the totals, so a flood of losses does not flood the output.
/// </summary>
/// <remarks>
/// Losses that come within the second after a line are not dropped from the account: one line follows when the
/// second is over (or at <see cref="Flush"/>, when the run stops), with their reasons and the totals as of then.
/// Without it a burst (an upstream restart loses every request in flight, then every request until it is back)
/// was told by its first loss only, and the last line's totals stayed short of what was lost until the next loss,
/// perhaps never.
/// </remarks>
internal sealed class ReplyLoss(string upstream, string downstream, Action<string> report, TimeProvider time)
{
    private static readonly TimeSpan ReportEvery = TimeSpan.FromSeconds(1);
    /// <summary>Distinct reasons a held-back line names; more are summed up in its totals.</summary>
    private const int HeldReasons = 4;

    private readonly Lock _gate = new();
    private readonly List<string> _held = [];
    private ITimer? _later;
    private long _unanswered;
    private long _unmatched;
    private long _lastReport = long.MinValue;

    /// <summary>Requests that will get no answer.</summary>
    public long Unanswered => Interlocked.Read(ref _unanswered);

    /// <summary>Answers dropped: no request on their upstream connection waited for them, or their client could not take them.</summary>
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

    /// <summary>An answer came for its request but the server stage did not take it (the client left, or its egress dropped it).</summary>
    public void Undelivered(string why)
    {
        Interlocked.Increment(ref _unmatched);
        Report(why);
    }

    /// <summary>Tells at once what is held back for the next line, if anything (the run is stopping: no later line would come).</summary>
    public void Flush() => ReportHeld();

    private void Report(string what)
    {
        lock (_gate)
        {
            var now = time.GetTimestamp();
            if (_lastReport != long.MinValue && time.GetElapsedTime(_lastReport, now) is var since && since < ReportEvery)
            {
                if (_held.Count < HeldReasons && !_held.Contains(what))
                    _held.Add(what);
                _later ??= time.CreateTimer(static state => ((ReplyLoss)state!).ReportHeld(), this, ReportEvery - since, Timeout.InfiniteTimeSpan);
                return;
            }
            _lastReport = now;
        }
        report(Line(what));
    }

    private void ReportHeld()
    {
        string what;
        lock (_gate)
        {
            _later?.Dispose();
            _later = null;
            if (_held.Count == 0)
                return;
            what = string.Join("; and ", _held);
            _held.Clear();
            _lastReport = time.GetTimestamp();
        }
        report(Line(what));
    }

    private string Line(string what) => $"reply {upstream} -> {downstream}: {what} (so far: {Unanswered} requests without an answer, {Unmatched} answers dropped)";
}
