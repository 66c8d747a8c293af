using System.Diagnostics;
using System.Net;
using System.Text.Json;
using Ferry.Tests.Support;

namespace Ferry.Tests.Telemetry;

/// <summary>
/// <c>dotnet-counters</c> against a running <c>ferry serve</c> (the JIT build, or the native binary when
/// <c>FERRY_CLI_BINARY</c> names it): the <c>Ferry</c> meter's instruments come out of the process, with
/// the right values. Skipped with the reason when dotnet-counters is not installed.
/// </summary>
[Trait("Category", "BlackBox")]
public sealed class DotnetCountersTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("ferry-counters-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [DotnetCountersFact]
    public async Task Dotnet_counters_collects_the_Ferry_meter_from_a_running_ferry_serve()
    {
        using var serve = Process.Start(CliBinary.StartInfo("serve", "--bind", "127.0.0.1:0", "--framing", "lines", "--quiet"))!;
        try
        {
            serve.ErrorDataReceived += (_, _) => { };
            serve.BeginErrorReadLine();
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            IPEndPoint? at = null;
            while (at is null)
            {
                var line = await serve.StandardOutput.ReadLineAsync(timeout.Token) ?? throw new EndOfStreamException("ferry serve ended before listening");
                var json = JsonDocument.Parse(line).RootElement;
                if (json.GetProperty("type").GetString() == "listening")
                    at = IPEndPoint.Parse(json.GetProperty("local").GetString()!);
            }
            _ = Task.Run(async () =>
            {
                while (await serve.StandardOutput.ReadLineAsync() is not null)
                {
                }
            });
            using var a = await FramedTestClient.ConnectAsync(at);
            using var b = await FramedTestClient.ConnectAsync(at);
            await a.SendAsync("hello\n");

            var output = Path.Combine(_dir, "counters.json");
            var collect = new ProcessStartInfo(DotnetCounters.Path!)
            {
                ArgumentList = { "collect", "--process-id", serve.Id.ToString(), "--counters", "Ferry", "--format", "json", "--output", output,
                    "--refresh-interval", "1", "--duration", "00:00:00:05" },
                RedirectStandardOutput = true,
                RedirectStandardError = true,
            };
            using var collector = Process.Start(collect)!;
            var collectorOut = collector.StandardOutput.ReadToEndAsync();
            var collectorErr = collector.StandardError.ReadToEndAsync();
            using var collectTimeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
            try
            {
                await collector.WaitForExitAsync(collectTimeout.Token);
            }
            finally
            {
                if (!collector.HasExited)
                    collector.Kill(entireProcessTree: true);
            }
            var text = File.Exists(output) ? await File.ReadAllTextAsync(output) : "";
            Assert.True(text.Contains("ferry.tcp.connections.active", StringComparison.Ordinal),
                $"no Ferry instrument in {output} (exit {collector.ExitCode}): {text}\n{await collectorOut}\n{await collectorErr}");

            // The last reading of the active connections: the two clients, tagged with the stage.
            var readings = JsonDocument.Parse(text).RootElement.GetProperty("Events").EnumerateArray()
                .Where(e => e.GetProperty("provider").GetString() == "Ferry" && e.GetProperty("name").GetString()!.StartsWith("ferry.tcp.connections.active", StringComparison.Ordinal))
                .ToList();
            Assert.NotEmpty(readings);
            Assert.Equal(2, readings[^1].GetProperty("value").GetDouble());
            Assert.Contains("ferry.stage=tcp_server", readings[^1].GetProperty("tags").GetString());
        }
        finally
        {
            if (!serve.HasExited)
                serve.Kill(entireProcessTree: true);
            await serve.WaitForExitAsync();
        }
    }
}

/// <summary>Where dotnet-counters is: on PATH, or in the global tools folder.</summary>
public static class DotnetCounters
{
    public static string? Path { get; } = Find();

    private static string? Find()
    {
        var dirs = (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':')
            .Append(System.IO.Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".dotnet", "tools"));
        return dirs.Select(d => System.IO.Path.Combine(d, "dotnet-counters")).FirstOrDefault(File.Exists);
    }
}

/// <summary>A fact skipped, with the reason, when dotnet-counters is not installed.</summary>
public sealed class DotnetCountersFactAttribute : FactAttribute
{
    public DotnetCountersFactAttribute()
    {
        if (DotnetCounters.Path is null)
            Skip = "dotnet-counters is not installed (dotnet tool install -g dotnet-counters; .ci/run installs it)";
    }
}
