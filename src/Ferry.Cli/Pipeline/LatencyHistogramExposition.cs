using System.Text;

namespace Ferry.Cli.Pipeline;

/// <summary>
/// The packet group publish latency as the Prometheus histogram it is. Ferry aggregates it itself and reports three
/// counters (<c>ferry.tcp.group.publish_latency.bucket</c>, <c>.count</c>, <c>.sum</c>; see <c>FerryMetrics</c>), which the
/// exporter names as counters: <c>…_bucket_total{le="…"}</c>, <c>…_count_total</c>, <c>…_sum_seconds_total</c>. A counter with an
/// <c>le</c> label is not a histogram to Prometheus (<c>promtool check metrics</c>: "non-histogram metrics should not have "le"
/// label"), and <c>histogram_quantile</c> over <c>_bucket_total</c> works only by accident of naming. So the scrape's text is
/// rewritten into one family, <c>ferry_tcp_group_publish_latency</c> of type histogram, with <c>_bucket{le}</c>, <c>_sum</c> and
/// <c>_count</c> per series (and one <c>_created</c> per series in OpenMetrics), in place of the three counter families.
/// </summary>
internal static class LatencyHistogramExposition
{
    /// <summary>The histogram family's name in the exposition.</summary>
    public const string Family = "ferry_tcp_group_publish_latency";

    private const string Help = "Packet group publish latency in seconds: first packet's receipt to publication on the bus";

    private const string BucketPrefix = Family + "_bucket";
    private const string CountPrefix = Family + "_count";
    private const string SumPrefix = Family + "_sum";

    /// <summary><paramref name="body"/> with the three latency counter families replaced by one histogram family; unchanged without them.</summary>
    /// <param name="body">The exposition, Prometheus text (0.0.4) or OpenMetrics, lines ending in <c>\n</c>.</param>
    public static string Rewrite(string body)
    {
        if (!body.Contains(BucketPrefix, StringComparison.Ordinal))
            return body;
        var openMetrics = false;
        var output = new StringBuilder(body.Length);
        // The series of the histogram by their labels without le, in the order they came, each with its lines.
        var series = new Dictionary<string, Series>(StringComparer.Ordinal);
        var order = new List<Series>();
        int? at = null; // where in the output the family goes: where the first of the three was
        var inLatency = false;
        var lines = body.Split('\n');
        for (var i = 0; i < lines.Length; i++)
        {
            var line = lines[i];
            if (line.StartsWith("# ", StringComparison.Ordinal))
            {
                var name = MetadataName(line);
                if (line.StartsWith("# EOF", StringComparison.Ordinal))
                    openMetrics = true;
                if (line.StartsWith("# TYPE ", StringComparison.Ordinal))
                    inLatency = IsLatency(name);
                if (IsLatency(name))
                {
                    at ??= output.Length;
                    continue; // TYPE, HELP and UNIT of the counters: the histogram has its own
                }
            }
            else if (inLatency && line.Length > 0)
            {
                Take(line, series, order);
                continue;
            }
            output.Append(line);
            if (i < lines.Length - 1)
                output.Append('\n');
        }
        if (at is null)
            return body;
        var family = new StringBuilder();
        family.Append("# TYPE ").Append(Family).Append(" histogram\n");
        family.Append("# HELP ").Append(Family).Append(' ').Append(Help).Append('\n');
        foreach (var s in order)
        {
            foreach (var bucket in s.Buckets)
                family.Append(bucket).Append('\n');
            if (s.Sum is not null)
                family.Append(s.Sum).Append('\n');
            if (s.Count is not null)
                family.Append(s.Count).Append('\n');
            if (openMetrics && s.Created is not null)
                family.Append(s.Created).Append('\n');
        }
        output.Insert(at.Value, family.ToString());
        return output.ToString();
    }

    /// <summary>The metric name a <c># TYPE</c>, <c># HELP</c> or <c># UNIT</c> line is about; "" for another comment.</summary>
    private static string MetadataName(string line)
    {
        if (!(line.StartsWith("# TYPE ", StringComparison.Ordinal) || line.StartsWith("# HELP ", StringComparison.Ordinal) || line.StartsWith("# UNIT ", StringComparison.Ordinal)))
            return "";
        var rest = line[7..];
        var space = rest.IndexOf(' ');
        return space < 0 ? rest : rest[..space];
    }

    private static bool IsLatency(string name)
        => name.StartsWith(BucketPrefix, StringComparison.Ordinal) || name.StartsWith(CountPrefix, StringComparison.Ordinal)
            || name.StartsWith(SumPrefix, StringComparison.Ordinal);

    /// <summary>Files one sample line of the three counters under its series, renamed.</summary>
    private static void Take(string line, Dictionary<string, Series> series, List<Series> order)
    {
        var nameEnd = line.IndexOfAny(['{', ' ']);
        if (nameEnd < 0)
            return;
        var name = line[..nameEnd];
        string labels, rest;
        if (line[nameEnd] == '{')
        {
            var close = LabelsEnd(line, nameEnd);
            if (close < 0)
                return;
            labels = line[(nameEnd + 1)..close];
            rest = line[(close + 1)..];
        }
        else
        {
            labels = "";
            rest = line[nameEnd..];
        }
        var (withoutLe, le) = SplitLe(labels);
        if (!series.TryGetValue(withoutLe, out var s))
        {
            s = new Series();
            series.Add(withoutLe, s);
            order.Add(s);
        }
        var created = name.EndsWith("_created", StringComparison.Ordinal);
        if (name.StartsWith(BucketPrefix, StringComparison.Ordinal))
        {
            if (!created && le is not null)
                s.Buckets.Add(Sample(BucketPrefix, labels, rest));
        }
        else if (name.StartsWith(CountPrefix, StringComparison.Ordinal))
        {
            if (created)
                s.Created = Sample(Family + "_created", withoutLe, rest);
            else
                s.Count = Sample(CountPrefix, withoutLe, rest);
        }
        else if (!created)
        {
            s.Sum = Sample(SumPrefix, withoutLe, rest);
        }
    }

    private static string Sample(string name, string labels, string rest) => labels.Length == 0 ? name + rest : string.Concat(name, "{", labels, "}", rest);

    /// <summary>The index of the <c>}</c> that ends the labels opened at <paramref name="open"/>, past quoted values (with escapes); -1 if none.</summary>
    private static int LabelsEnd(string line, int open)
    {
        var quoted = false;
        for (var i = open + 1; i < line.Length; i++)
        {
            var c = line[i];
            if (quoted && c == '\\')
                i++;
            else if (c == '"')
                quoted = !quoted;
            else if (!quoted && c == '}')
                return i;
        }
        return -1;
    }

    /// <summary>The labels without the <c>le</c> pair, and that pair (null when there is none).</summary>
    private static (string WithoutLe, string? Le) SplitLe(string labels)
    {
        var pairs = new List<string>();
        string? le = null;
        var start = 0;
        var quoted = false;
        for (var i = 0; i <= labels.Length; i++)
        {
            if (i < labels.Length)
            {
                var c = labels[i];
                if (quoted && c == '\\')
                {
                    i++;
                    continue;
                }
                if (c == '"')
                    quoted = !quoted;
                if (quoted || c != ',')
                    continue;
            }
            var pair = labels[start..i];
            start = i + 1;
            if (pair.Length == 0)
                continue;
            if (pair.StartsWith("le=", StringComparison.Ordinal))
                le = pair;
            else
                pairs.Add(pair);
        }
        return (string.Join(',', pairs), le);
    }

    /// <summary>One labelled series of the histogram: its bucket lines in the order they came, its sum, count and created lines.</summary>
    private sealed class Series
    {
        public List<string> Buckets { get; } = [];

        public string? Sum { get; set; }

        public string? Count { get; set; }

        public string? Created { get; set; }
    }
}
