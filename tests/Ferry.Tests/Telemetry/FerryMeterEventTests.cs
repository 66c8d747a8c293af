using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using System.Security.Authentication;
using Ferry.Framing;
using Ferry.Hosting.Telemetry;
using Ferry.Stages;
using Ferry.Tests.Support;

namespace Ferry.Tests.Telemetry;

/// <summary>The instruments recorded as things happen: group publish latency (once per group) and TLS handshake failures by reason.</summary>
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
    public async Task Publish_latency_is_recorded_once_per_published_group_tagged_with_the_stage()
    {
        var name = UniqueName("latency");
        var latencies = new ConcurrentQueue<double>();
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Name == FerryMetrics.MeterName && instrument.Name == "ferry.tcp.group.publish_latency")
                l.EnableMeasurementEvents(instrument);
        };
        listener.SetMeasurementEventCallback<double>((_, value, tags, _) =>
        {
            if (StageOf(tags, "", out _) == name)
                latencies.Enqueue(value);
        });
        listener.Start();

        await using var stage = new TcpServerStage(new TcpServerStageOptions { Name = name, Bind = "127.0.0.1:0", Framing = FramingSpec.Parse("lines"), GroupSize = 2 });
        using var tracking = FerryMetrics.Track(stage);
        var at = await stage.StartAsync();
        using var client = await FramedTestClient.ConnectAsync(at);
        await client.SendAsync("one\ntwo\nthree\n");
        // "one, two" fill a group; "three" follows by linger: two groups, one latency each.
        await Poll.UntilAsync(() => stage.GetStats().GroupsPublishedTotal == 2 && latencies.Count == 2,
            "one latency per published group", seen: () => $"{stage.GetStats().GroupsPublishedTotal} groups, {latencies.Count} latencies");
        Assert.All(latencies, l => Assert.InRange(l, 0, 60));

        tracking.Dispose();
        await client.SendAsync("four\n");
        await Poll.UntilAsync(() => stage.GetStats().GroupsPublishedTotal == 3, "the fourth line's group");
        Assert.Equal(2, latencies.Count); // an untracked stage records no latency
    }

    [Fact]
    public async Task Tls_handshake_failures_are_counted_by_reason_and_match_SocketStats()
    {
        var name = UniqueName("tls");
        await using var stage = new TcpServerStage(new TcpServerStageOptions
        {
            Name = name,
            Bind = "127.0.0.1:0",
            Tls = new TlsOptions
            {
                Secure = true,
                Certificate = TestCertificates.ServerCertificate,
                CaCertificatePem = TestCertificates.AuthorityPem,
                ClientCertificate = ClientCertificateMode.Required,
            },
        });
        using var tracking = FerryMetrics.Track(stage);
        var at = await stage.StartAsync();
        foreach (var certificate in new[] { null, TestCertificates.ClientOfOtherAuthority, TestCertificates.ExpiredClient })
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
        await Poll.UntilAsync(() => stage.GetStats().TlsFailuresTotal == 3, "three refused handshakes");

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
            return reasons.Values.Sum() == 3;
        }, "the failures on the meter");
        Assert.Equal(new Dictionary<string, long> { ["no_client_certificate"] = 1, ["untrusted"] = 1, ["expired"] = 1 }, reasons);
        Assert.Equal(stage.GetStats().TlsFailuresTotal, reasons.Values.Sum());
    }
}
