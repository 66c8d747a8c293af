using System.Diagnostics;
using System.Text.Json;
using Ferry.Tests.Support;

namespace Ferry.Tests.Telemetry;

/// <summary>
/// A real Prometheus (Debian's <c>prometheus</c> package) started for one test: private data directory,
/// loopback listen address, scrape interval 1 s on one target. Tests using it are skipped, with the
/// reason, when it is not installed (<c>.ci/run</c> installs it).
/// </summary>
public sealed class PrometheusServer : IAsyncDisposable
{
    public const string Binary = "/usr/bin/prometheus";

    private readonly Process _process;
    private readonly string _dir;
    private readonly HttpClient _http = new() { Timeout = TimeSpan.FromSeconds(5) };

    public static string? WhyUnavailable => File.Exists(Binary) ? null : $"{Binary} is not installed (apt-get install prometheus; .ci/run does)";

    private PrometheusServer(Process process, string dir, int port)
    {
        _process = process;
        _dir = dir;
        Port = port;
    }

    public int Port { get; }

    public static PrometheusServer Start(int port, string target)
    {
        var dir = Directory.CreateTempSubdirectory("ferry-prometheus-").FullName;
        var config = Path.Combine(dir, "prometheus.yml");
        File.WriteAllText(config, $"""
            global:
              scrape_interval: 1s
              evaluation_interval: 1s
            scrape_configs:
              - job_name: ferry
                static_configs:
                  - targets: ["{target}"]
            """);
        var start = new ProcessStartInfo(Binary)
        {
            ArgumentList = { $"--config.file={config}", $"--storage.tsdb.path={Path.Combine(dir, "data")}", $"--web.listen-address=127.0.0.1:{port}" },
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        var process = Process.Start(start)!;
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return new PrometheusServer(process, dir, port);
    }

    /// <summary>The value of an instant query's sample whose labels include <paramref name="label"/>=<paramref name="value"/>, or null.</summary>
    public async Task<string?> QueryAsync(string query, string label, string value)
    {
        try
        {
            var body = await _http.GetStringAsync($"http://127.0.0.1:{Port}/api/v1/query?query={Uri.EscapeDataString(query)}");
            using var json = JsonDocument.Parse(body);
            foreach (var sample in json.RootElement.GetProperty("data").GetProperty("result").EnumerateArray())
                if (sample.GetProperty("metric").TryGetProperty(label, out var l) && l.GetString() == value)
                    return sample.GetProperty("value")[1].GetString();
        }
        catch (HttpRequestException)
        {
        }
        catch (TaskCanceledException)
        {
        }
        return null;
    }

    public async ValueTask DisposeAsync()
    {
        _http.Dispose();
        await ExternalPeer.StopAsync(_process, _dir);
    }
}

/// <summary>A fact that is reported as skipped, with the reason, when Prometheus is missing; never as passed.</summary>
public sealed class PrometheusFactAttribute : FactAttribute
{
    public PrometheusFactAttribute()
    {
        if (PrometheusServer.WhyUnavailable is { } reason)
            Skip = reason;
    }
}
