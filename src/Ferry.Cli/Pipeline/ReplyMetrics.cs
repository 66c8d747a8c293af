using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using Ferry.Hosting.Telemetry;

namespace Ferry.Cli.Pipeline;

/// <summary>
/// The losses of each <c>target: reply</c> pair on the <c>Ferry</c> meter, beside the stages' own counters: a request that
/// gets no answer, or an answer dropped, is in no stage's counters when the stage did nothing wrong (a request not sent while
/// the upstream is away, the requests in flight of an upstream connection that ended, an answer for a client that left), so
/// a scrape alone could not tell what a proxy lost. Tagged with the upstream (client) stage and the stage it answers.
/// </summary>
internal static class ReplyMetrics
{
    private static readonly Meter Meter = new(FerryMetrics.MeterName);
    private static readonly ConcurrentDictionary<ReplyBook, KeyValuePair<string, object?>[]> Books = new();

    static ReplyMetrics()
    {
        Meter.CreateObservableCounter("ferry.reply.unanswered", () => Observe(b => b.Loss.Unanswered), "{request}",
            "Requests of a target: reply pair that get no answer: not sent (upstream away, full, stopping) or sent on an upstream connection that ended");
        Meter.CreateObservableCounter("ferry.reply.answers_dropped", () => Observe(b => b.Loss.Unmatched), "{answer}",
            "Answers of a target: reply pair dropped: no request waited for them, or their client left or could not take them");
        Meter.CreateObservableUpDownCounter("ferry.reply.waiting", () => Observe(b => b.Waiting), "{request}",
            "Requests of a target: reply pair sent upstream and waiting for their answer now");
    }

    /// <summary>Reports <paramref name="book"/>'s losses as those of the pair <paramref name="upstream"/> -> <paramref name="downstream"/> until disposed.</summary>
    public static IDisposable Track(string upstream, string downstream, ReplyBook book)
    {
        Books[book] = [new(FerryMetrics.StageTag, upstream), new("ferry.reply_to", downstream)];
        return new Untrack(book);
    }

    private static IEnumerable<Measurement<long>> Observe(Func<ReplyBook, long> value)
        => Books.Select(b => new Measurement<long>(value(b.Key), b.Value));

    private sealed class Untrack(ReplyBook book) : IDisposable
    {
        public void Dispose() => Books.TryRemove(book, out _);
    }
}
