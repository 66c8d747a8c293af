using System.Diagnostics.Tracing;
using System.Net;
using Ferry.Cli;
using Ferry.Cli.Pipeline;
using Ferry.Tests.Support;
using Microsoft.Extensions.Logging;

namespace Ferry.Tests.Telemetry;

/// <summary>
/// OTLP export failures reach the command's log: one warning per failure streak, one line when export works again
/// (they were reported only on the SDK's EventSource, so a wrong collector address went unnoticed).
/// </summary>
public sealed class OtlpExportWatchTests
{
    /// <summary>Counts the OTLP exporter's failed exports to one endpoint, as they happen.</summary>
    private sealed class FailureCount(string endpoint) : EventListener
    {
        private int _count;

        public int Count => Volatile.Read(ref _count);

        protected override void OnEventSourceCreated(EventSource eventSource)
        {
            if (eventSource.Name == "OpenTelemetry-Exporter-OpenTelemetryProtocol")
                EnableEvents(eventSource, EventLevel.Warning);
        }

        protected override void OnEventWritten(EventWrittenEventArgs e)
        {
            if (e.Level <= EventLevel.Warning && e.Payload is { } payload && payload.OfType<string>().Any(p => p.StartsWith(endpoint, StringComparison.Ordinal)))
                Interlocked.Increment(ref _count);
        }
    }

    [Fact]
    public async Task A_failure_streak_is_one_warning_and_its_end_is_one_more_line()
    {
        var port = FreePorts.One();
        var endpoint = $"http://127.0.0.1:{port}";
        var stderr = new LineWriter();
        using var loggerFactory = CliLogging.Create(LogLevel.Warning, LogFormat.Plain, stderr);
        using var failures = new FailureCount(endpoint);
        var telemetry = new TelemetryDefinition(null, new Uri(endpoint), "http_protobuf", TimeSpan.FromMilliseconds(100));

        // Stopped before the collector: the export's last flush at its stop goes to a collector that still answers.
        using var collector = new HttpListener();
        using var stopServing = new CancellationTokenSource();
        var paths = new System.Collections.Concurrent.ConcurrentQueue<string>();
        Task? serving = null;
        using (PipelineTelemetry.Start(telemetry, loggerFactory))
        {
            // Nothing listens: connection refused, export after export, said once.
            await Poll.UntilAsync(() => failures.Count >= 3, "three failed exports", seen: () => $"{failures.Count}; stderr: {string.Join(" | ", stderr.Lines)}");
            var failing = Assert.Single(stderr.Lines, l => l.Contains("telemetry.otlp", StringComparison.Ordinal));
            Assert.Contains($"telemetry.otlp: export to {endpoint}/v1/metrics is failing", failing, StringComparison.Ordinal);
            Assert.Contains("is failing: Connection refused", failing, StringComparison.Ordinal);

            // A collector comes up: one line says so, and the next exports add nothing.
            collector.Prefixes.Add($"{endpoint}/");
            collector.Start();
            var posts = 0;
            serving = Task.Run(async () =>
            {
                while (collector.IsListening)
                {
                    // Ended by a token, not by the listener's stop alone: a GetContextAsync that passed the listener's
                    // "started" check just before Stop() is queued after Stop() completed the waiting ones, and is never
                    // completed (the serving task did not end in 10 s once in CI). The collector is also aborted, which
                    // ends a request whose body the exporter's stop cut short.
                    try
                    {
                        var context = await collector.GetContextAsync().WaitAsync(stopServing.Token);
                        await context.Request.InputStream.CopyToAsync(Stream.Null);
                        paths.Enqueue(context.Request.HttpMethod + " " + context.Request.Url!.AbsolutePath);
                        Interlocked.Increment(ref posts);
                        context.Response.StatusCode = 200;
                        context.Response.ContentType = "application/x-protobuf";
                        context.Response.Close();
                    }
                    catch (Exception ex) when (ex is HttpListenerException or ObjectDisposedException or InvalidOperationException or IOException
                        or OperationCanceledException)
                    {
                        return;
                    }
                }
            });
            await Poll.UntilAsync(() => stderr.Lines.Any(l => l.Contains("works again", StringComparison.Ordinal)), "the recovery line",
                seen: () => string.Join(" | ", stderr.Lines));
            var seen = Volatile.Read(ref posts);
            await Poll.UntilAsync(() => Volatile.Read(ref posts) >= seen + 3, "three more exports taken");
        }
        stopServing.Cancel();
        collector.Abort();
        await serving!.WaitAsync(TimeSpan.FromSeconds(10));
        // An endpoint without a path posts where collectors take metrics (it posted to /, which they answer with 404).
        Assert.All(paths, p => Assert.Equal("POST /v1/metrics", p));

        var lines = stderr.Lines.Where(l => l.Contains("telemetry.otlp", StringComparison.Ordinal)).ToList();
        Assert.Equal(2, lines.Count);
        Assert.Contains("is failing", lines[0], StringComparison.Ordinal);
        Assert.Contains($"telemetry.otlp: export to {endpoint}", lines[1], StringComparison.Ordinal);
        Assert.Contains("works again", lines[1], StringComparison.Ordinal);
    }
}
