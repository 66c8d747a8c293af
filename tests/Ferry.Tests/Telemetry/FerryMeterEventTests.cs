using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using System.Security.Authentication;
using Ferry.Framing;
using Ferry.Hosting.Telemetry;
using Ferry.Stages;
using Ferry.Tests.Support;

namespace Ferry.Tests.Telemetry;

/// <summary>The instruments fed as things happen: group publish latency (once per group) and TLS handshake failures by reason.</summary>
public sealed class FerryMeterEventTests
{
    private static string UniqueName(string prefix) => prefix + "_" + Guid.NewGuid().ToString("N")[..8];

    private static string? StageOf(ReadOnlySpan<KeyValuePair<string, object?>> tags, string key, out string? other)
    {
        string? stage = null;
        other = null;
        foreach (var tag in tags)
        {
            if (tag.Key == FerryMetrics.StageTag) stage = (string?)tag.Value;
            else if (tag.Key == key) other = (string?)tag.Value;
        }
        return stage;
    }

    [Fact]
    public async Task Publish_latency_is_measured_once_per_published_group_and_observed_as_buckets_count_and_sum()
    {
        var name = UniqueName("latency");
        var buckets = new ConcurrentDictionary<string, long>();
        long count = -1;
        double sum = -1;
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Name == FerryMetrics.MeterName && instrument.Name.StartsWith("ferry.tcp.group.publish_latency.", StringComparison.Ordinal))
                l.EnableMeasurementEvents(instrument);
        };
        listener.SetMeasurementEventCallback<long>((instrument, value, tags, _) =>
        {
            if (StageOf(tags, "le", out var le) != name)
                return;
            if (instrument.Name == "ferry.tcp.group.publish_latency.bucket" && le is not null)
                buckets[le] = value;
            else if (instrument.Name == "ferry.tcp.group.publish_latency.count")
                count = value;
        });
        listener.SetMeasurementEventCallback<double>((instrument, value, tags, state) =>
        {
            if (StageOf(tags, "", out _) == name && instrument.Name == "ferry.tcp.group.publish_latency.sum")
                sum = value;
        });
        listener.Start();

        // On the stage's fake clock: a group of two fills at once (latency 0); the third line waits out the
        // linger, so its latency is the linger exactly (the clock the packets were stamped with, read per round).
        var linger = TimeSpan.FromMilliseconds(50);
        var time = new StageTime();
        await using var stage = new TcpServerStage(new TcpServerStageOptions { Name = name, Bind = "127.0.0.1:0", Framing = FramingSpec.Parse("lines"), GroupSize = 2, GroupLinger = linger },
            timeProvider: time);
        using var tracking = FerryMetrics.Track(stage);
        var at = await stage.StartAsync();
        using var client = await FramedTestClient.ConnectAsync(at);
        await client.SendAsync("one\ntwo\n");
        await Poll.UntilAsync(() => stage.GetStats().GroupsPublishedTotal == 1, "the full group");
        await client.SendAsync("three\n");
        await Poll.UntilAsync(() => stage.GetStats().PacketsReceivedTotal == 3, "the third line read");
        time.Advance(linger);
        await Poll.UntilAsync(() =>
        {
            listener.RecordObservableInstruments();
            // One observation reads the buckets, then the count, then the sum: one taken while the second
            // group was being recorded can mix before and after, so wait for an observation after it.
            return stage.GetStats().GroupsPublishedTotal == 2 && count == 2 && buckets.GetValueOrDefault("+Inf") == 2 && sum == linger.TotalSeconds;
        }, "one latency per published group", seen: () => $"{stage.GetStats().GroupsPublishedTotal} groups, count {count}, +Inf {buckets.GetValueOrDefault("+Inf")}, sum {sum}");

        Assert.Equal(PublishLatencyHistogram.UpperBoundLabels, buckets.Keys.OrderBy(k => k == "+Inf" ? double.PositiveInfinity : double.Parse(k, System.Globalization.CultureInfo.InvariantCulture)));
        var cumulative = PublishLatencyHistogram.UpperBoundLabels.Select(le => buckets[le]).ToArray();
        Assert.Equal(cumulative.Order(), cumulative); // cumulative: never decreasing
        Assert.Equal(1, buckets["0.00005"]); // published in the round its packets arrived in: 0
        Assert.Equal(1, buckets["0.025"]);
        Assert.Equal(2, buckets["0.05"]);    // the lingering one: 50 ms, le is inclusive
        Assert.Equal(2, buckets["+Inf"]);
        Assert.Equal(linger.TotalSeconds, sum);

        tracking.Dispose();
        buckets.Clear();
        count = -1;
        await client.SendAsync("four\nfive\n");
        await Poll.UntilAsync(() => stage.GetStats().GroupsPublishedTotal == 3, "the next group");
        listener.RecordObservableInstruments();
        Assert.Equal(-1, count); // an untracked stage is no longer observed
        Assert.Empty(buckets);
    }

    [Fact]
    public async Task Tls_handshake_failures_are_counted_by_reason_and_match_SocketStats()
    {
        var name = UniqueName("tls");
        await using var stage = new TcpServerStage(new TcpServerStageOptions
        {
            Name = name,
            Bind = "127.0.0.1:0",
            Tls = TestCertificates.MutualTlsServer,
        });
        using var tracking = FerryMetrics.Track(stage);
        var at = await stage.StartAsync();
        var now = DateTimeOffset.UtcNow;
        using var future = Ferry.Transport.Tls.CertificateMaker.CreateClient(TestCertificates.Authority, "terminal-from-tomorrow", now.AddDays(1), now.AddDays(30));
        foreach (var certificate in new[] { null, TestCertificates.ClientOfOtherAuthority, TestCertificates.ExpiredClient, future })
        {
            try
            {
                await using var client = await FramedTestClient.ConnectAsync(at, TestCertificates.TrustingClient(clientCertificate: certificate));
                await client.WaitClosedAsync();
            }
            catch (Exception ex) when (ex is AuthenticationException or IOException)
            {
            }
        }
        await Poll.UntilAsync(() => stage.GetStats().TlsFailuresTotal == 4, "four refused handshakes");

        var reasons = new Dictionary<string, long>();
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Name == FerryMetrics.MeterName && instrument.Name == "ferry.tcp.tls.handshake_failures")
                l.EnableMeasurementEvents(instrument);
        };
        listener.SetMeasurementEventCallback<long>((_, value, tags, _) =>
        {
            if (StageOf(tags, FerryMetrics.TlsReasonTag, out var reason) == name && reason is not null)
                reasons[reason] = value;
        });
        listener.Start();
        await Poll.UntilAsync(() =>
        {
            listener.RecordObservableInstruments();
            return reasons.Values.Sum() == 4;
        }, "the failures on the meter");
        Assert.Equal(new Dictionary<string, long> { ["no_client_certificate"] = 1, ["untrusted"] = 1, ["expired"] = 1, ["not_yet_valid"] = 1 }, reasons);
        Assert.Equal(stage.GetStats().TlsFailuresTotal, reasons.Values.Sum());
    }
}
