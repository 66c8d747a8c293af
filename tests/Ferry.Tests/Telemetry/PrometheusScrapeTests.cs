using Ferry.Tests.Cli;
using Ferry.Tests.Support;

namespace Ferry.Tests.Telemetry;

public sealed class PrometheusScrapeTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("ferry-scrape-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [PrometheusFact]
    public async Task A_real_Prometheus_scrapes_ferry_run_and_reports_the_active_connections()
    {
        var metricsPort = FreePorts.One();
        var file = Path.Combine(_dir, "gateway.yaml");
        File.WriteAllText(file, $"""
            stages:
              - name: gateway
                type: tcp_server
                config: {"{"}bind: "127.0.0.1:0", framing: lines{"}"}
            telemetry:
              prometheus:
                listen: 127.0.0.1:{metricsPort}
            """);
        await using var run = RunningCommand.Start(null, "run", file, "--quiet");
        var at = await run.ListeningAsync("gateway");
        using var a = await FramedTestClient.ConnectAsync(at);
        using var b = await FramedTestClient.ConnectAsync(at);
        using var c = await FramedTestClient.ConnectAsync(at);

        await using var prometheus = PrometheusServer.Start(FreePorts.One(), $"127.0.0.1:{metricsPort}");
        string? value = null;
        await Poll.UntilAsync(() =>
        {
            value = prometheus.QueryAsync("ferry_tcp_connections_active", "ferry_stage", "gateway").GetAwaiter().GetResult();
            return value == "3";
        }, "Prometheus to report ferry_tcp_connections_active 3 for the gateway stage", TimeSpan.FromSeconds(60));

        c.Dispose();
        await Poll.UntilAsync(() =>
        {
            value = prometheus.QueryAsync("ferry_tcp_connections_active", "ferry_stage", "gateway").GetAwaiter().GetResult();
            return value == "2";
        }, "Prometheus to follow a closed connection down to 2", TimeSpan.FromSeconds(60));
        Assert.Equal(0, await run.StopAsync());
    }
}
