using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Ferry.Cli;
using Ferry.Cli.Pipeline;
using Ferry.Tests.Support;
using Microsoft.Extensions.Logging;

namespace Ferry.Tests.Telemetry;

/// <summary>
/// A collector that takes the connection and never answers must not hold up the command's stop: the export's last
/// flush at the stop is given a short budget (it waited the SDK's 5 s, on top of the stages' grace periods).
/// </summary>
public sealed class OtlpStopTests
{
    [Fact]
    public async Task A_collector_that_never_answers_holds_the_stop_for_the_final_export_budget_only()
    {
        using var collector = new TcpListener(IPAddress.Loopback, FreePorts.One());
        collector.Start();
        var endpoint = $"http://127.0.0.1:{((IPEndPoint)collector.LocalEndpoint).Port}";
        using var loggerFactory = CliLogging.Create(LogLevel.Warning, LogFormat.Plain, new LineWriter());
        var telemetry = new TelemetryDefinition(null, new Uri(endpoint), "http_protobuf", TimeSpan.FromMilliseconds(100));
        var export = PipelineTelemetry.Start(telemetry, loggerFactory)!;
        // An export is under way: the collector has its connection and says nothing back.
        using var taken = await collector.AcceptTcpClientAsync().WaitAsync(TimeSpan.FromSeconds(30));

        var stopping = Stopwatch.StartNew();
        await Task.Run(export.Dispose).WaitAsync(TimeSpan.FromSeconds(30));
        Assert.True(stopping.Elapsed < PipelineTelemetry.FinalExportBudget + TimeSpan.FromSeconds(3),
            $"the stop took {stopping.Elapsed}, the final export's budget is {PipelineTelemetry.FinalExportBudget}");
    }
}
