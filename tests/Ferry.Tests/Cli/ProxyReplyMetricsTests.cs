using Ferry.Framing;
using Ferry.Tests.Support;

namespace Ferry.Tests.Cli;

/// <summary>
/// A proxy's reply losses are on the scrape endpoint: a request not sent because the upstream is away is in no stage's
/// counters ('back' dropped nothing, 'front' read it), so without ferry_reply_unanswered a scrape could not tell it was lost.
/// The stages have names of their own: the meter is the process's, and other tests' proxies run beside this one.
/// </summary>
public sealed class ProxyReplyMetricsTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("ferry-proxy-metrics-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public async Task A_request_not_sent_while_the_upstream_is_away_is_counted_on_the_scrape_endpoint()
    {
        var (upstreamPort, metricsPort) = (FreePorts.One(), FreePorts.One()); // nothing listens upstream: 'back' never connects
        var path = Path.Combine(_dir, "proxy.yaml");
        File.WriteAllText(path, $$$"""
            stages:
              - {name: metered_front, type: tcp_server, config: {bind: "127.0.0.1:0", framing: lines}}
              - {name: metered_back, type: tcp_client, config: {connect: "127.0.0.1:{{{upstreamPort}}}", framing: lines}}
            routes:
              - {from: metered_front, to: metered_back}
              - {from: metered_back, to: metered_front, target: reply}
            telemetry:
              prometheus: {listen: "127.0.0.1:{{{metricsPort}}}"}
            """);
        await using var run = RunningCommand.Start(null, "run", path, "--quiet");
        var front = await run.ListeningAsync("metered_front");
        await using var alice = await FramedTestClient.ConnectAsync(front, new FramedTestClientOptions { Framing = FramingSpec.Parse("lines") });
        await alice.SendMessageAsync("Q1");
        await run.Out.WaitJsonAsync(j => LineWriter.Is(j, "error") && j.GetProperty("message").GetString()!.Contains("is not connected", StringComparison.Ordinal), "the loss reported");

        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        var scrape = await http.GetStringAsync($"http://127.0.0.1:{metricsPort}/metrics");
        var lines = scrape.Split('\n');
        Assert.Contains(lines, l => l.StartsWith("ferry_reply_unanswered_total{", StringComparison.Ordinal) && l.Contains("ferry_stage=\"metered_back\"", StringComparison.Ordinal)
            && l.Contains("ferry_reply_to=\"metered_front\"", StringComparison.Ordinal) && l.EndsWith(" 1", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.StartsWith("ferry_reply_answers_dropped_total{", StringComparison.Ordinal)
            && l.Contains("ferry_stage=\"metered_back\"", StringComparison.Ordinal) && l.EndsWith(" 0", StringComparison.Ordinal));
        Assert.Equal(0, await run.StopAsync());
    }
}
