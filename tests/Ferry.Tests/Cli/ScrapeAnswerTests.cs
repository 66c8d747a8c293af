using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Ferry.Cli;
using Ferry.Cli.Pipeline;
using Ferry.Tests.Support;

namespace Ferry.Tests.Cli;

/// <summary>
/// What the scrape endpoint answers: the metrics at <c>/metrics</c> only (every path used to get them), no empty
/// <c>Server:</c> header, and the publish latency as a Prometheus histogram (<c>_bucket</c>, <c>_sum</c>, <c>_count</c>)
/// rather than counters named <c>…_bucket_total</c> with an <c>le</c> label, which <c>promtool check metrics</c> refuses.
/// </summary>
[Collection(ProcessMeterCollection.Name)]
public sealed class ScrapeAnswerTests
{
    /// <summary>A <c>ferry serve</c> with a scrape endpoint that has read one packet, so every instrument has a value.</summary>
    private static async Task ServeAsync(Func<int, Task> scrape)
    {
        var port = FreePorts.One();
        using var stop = new CancellationTokenSource();
        var (stdout, stderr) = (new LineWriter(), new LineWriter());
        var serve = Task.Run(() => FerryCommand.RunAsync(["serve", "--bind", "127.0.0.1:0", "--quiet", "--metrics-listen", $"127.0.0.1:{port}"],
            TextReader.Null, stdout, stderr, stop.Token));
        try
        {
            var listening = await stdout.WaitJsonAsync(j => LineWriter.Is(j, "listening"), "listening line");
            using (var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp))
            {
                await client.ConnectAsync(IPEndPoint.Parse(listening.GetProperty("local").GetString()!)).WaitAsync(TimeSpan.FromSeconds(10));
                await client.SendAsync("hi"u8.ToArray());
            }
            await stdout.WaitJsonAsync(j => LineWriter.Is(j, "stats") && j.GetProperty("groups").GetInt64() > 0, "a published group");
            await scrape(port);
        }
        finally
        {
            stop.Cancel();
            Assert.Equal(0, await serve.WaitAsync(TimeSpan.FromSeconds(30)));
        }
    }

    private static async Task<string> RawAsync(int port, string request)
    {
        using var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await client.ConnectAsync(new IPEndPoint(IPAddress.Loopback, port)).WaitAsync(TimeSpan.FromSeconds(10));
        await client.SendAsync(Encoding.ASCII.GetBytes(request));
        var answer = new MemoryStream();
        var buffer = new byte[16 * 1024];
        int n;
        while ((n = await client.ReceiveAsync(buffer).WaitAsync(TimeSpan.FromSeconds(10))) > 0)
            answer.Write(buffer, 0, n);
        return Encoding.UTF8.GetString(answer.ToArray());
    }

    [Fact]
    public Task Only_metrics_is_served_and_no_empty_server_header_is_sent() => ServeAsync(async port =>
    {
        foreach (var path in new[] { "/", "/metric", "/metrics/", "/favicon.ico", "/api/v1/query" })
            Assert.StartsWith("HTTP/1.1 404 Not Found\r\n", await RawAsync(port, $"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n"), StringComparison.Ordinal);

        var answer = await RawAsync(port, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
        Assert.StartsWith("HTTP/1.1 200 OK\r\n", answer, StringComparison.Ordinal);
        var (head, body) = (answer[..answer.IndexOf("\r\n\r\n", StringComparison.Ordinal)], answer[(answer.IndexOf("\r\n\r\n", StringComparison.Ordinal) + 4)..]);
        Assert.DoesNotContain("\r\nServer:", head, StringComparison.OrdinalIgnoreCase);
        Assert.Contains($"\r\nContent-Length: {Encoding.UTF8.GetByteCount(body)}", head, StringComparison.Ordinal);

        // HEAD: the same headers, the length of the GET's body, and no body.
        var headOnly = await RawAsync(port, "HEAD /metrics?x=1 HTTP/1.1\r\nHost: x\r\n\r\n");
        Assert.StartsWith("HTTP/1.1 200 OK\r\n", headOnly, StringComparison.Ordinal);
        Assert.EndsWith("\r\n\r\n", headOnly, StringComparison.Ordinal);
        Assert.Contains("\r\nContent-Length: ", headOnly, StringComparison.Ordinal);
    });

    [Fact]
    public Task The_publish_latency_is_one_histogram_family() => ServeAsync(async port =>
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        var text = await http.GetStringAsync($"http://127.0.0.1:{port}/metrics");
        Assert.Contains("# TYPE ferry_tcp_group_publish_latency histogram\n", text, StringComparison.Ordinal);
        Assert.Matches("\nferry_tcp_group_publish_latency_bucket\\{[^}]*ferry_stage=\"tcp_server\",le=\"\\+Inf\"\\} 1\n", text);
        Assert.Matches("\nferry_tcp_group_publish_latency_count\\{[^}]*\\} 1\n", text);
        Assert.Matches("\nferry_tcp_group_publish_latency_sum\\{[^}]*\\} ", text);
        Assert.DoesNotContain("_bucket_total", text, StringComparison.Ordinal);
        Assert.DoesNotContain("publish_latency_count_total", text, StringComparison.Ordinal);
        Assert.DoesNotContain("publish_latency_sum_seconds", text, StringComparison.Ordinal);
    });

    [PromtoolFact]
    public Task Promtool_passes_a_scrape() => ServeAsync(async port =>
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        var text = await http.GetStringAsync($"http://127.0.0.1:{port}/metrics");
        var start = new ProcessStartInfo(PromtoolFactAttribute.Binary, ["check", "metrics"])
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        using var promtool = Process.Start(start)!;
        var output = promtool.StandardOutput.ReadToEndAsync();
        var errors = promtool.StandardError.ReadToEndAsync();
        await promtool.StandardInput.WriteAsync(text);
        promtool.StandardInput.Close();
        await promtool.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(30));
        Assert.True(promtool.ExitCode == 0, $"promtool check metrics exited {promtool.ExitCode}: {await output} {await errors}");
    });

    [Fact]
    public void Two_stages_in_openmetrics_become_one_family_with_each_series_whole()
    {
        var body = string.Join('\n',
            "# TYPE a_total counter",
            "a_total 1",
            "# TYPE ferry_tcp_group_publish_latency_bucket counter",
            "# HELP ferry_tcp_group_publish_latency_bucket x",
            "ferry_tcp_group_publish_latency_bucket_total{ferry_stage=\"p,q\",le=\"0.1\"} 1",
            "ferry_tcp_group_publish_latency_bucket_created{ferry_stage=\"p,q\",le=\"0.1\"} 5.5",
            "ferry_tcp_group_publish_latency_bucket_total{ferry_stage=\"p,q\",le=\"+Inf\"} 2",
            "ferry_tcp_group_publish_latency_bucket_total{ferry_stage=\"r\\\"}\",le=\"0.1\"} 0",
            "ferry_tcp_group_publish_latency_bucket_total{ferry_stage=\"r\\\"}\",le=\"+Inf\"} 0",
            "# TYPE ferry_tcp_group_publish_latency_count counter",
            "ferry_tcp_group_publish_latency_count_total{ferry_stage=\"p,q\"} 2",
            "ferry_tcp_group_publish_latency_count_created{ferry_stage=\"p,q\"} 5.5",
            "ferry_tcp_group_publish_latency_count_total{ferry_stage=\"r\\\"}\"} 0",
            "# TYPE ferry_tcp_group_publish_latency_sum_seconds counter",
            "# UNIT ferry_tcp_group_publish_latency_sum_seconds seconds",
            "ferry_tcp_group_publish_latency_sum_seconds_total{ferry_stage=\"p,q\"} 0.25",
            "ferry_tcp_group_publish_latency_sum_seconds_total{ferry_stage=\"r\\\"}\"} 0",
            "# TYPE z_total counter",
            "z_total 2",
            "# EOF",
            "");
        Assert.Equal(string.Join('\n',
            "# TYPE a_total counter",
            "a_total 1",
            "# TYPE ferry_tcp_group_publish_latency histogram",
            "# HELP ferry_tcp_group_publish_latency Packet group publish latency in seconds: first packet's receipt to publication on the bus",
            "ferry_tcp_group_publish_latency_bucket{ferry_stage=\"p,q\",le=\"0.1\"} 1",
            "ferry_tcp_group_publish_latency_bucket{ferry_stage=\"p,q\",le=\"+Inf\"} 2",
            "ferry_tcp_group_publish_latency_sum{ferry_stage=\"p,q\"} 0.25",
            "ferry_tcp_group_publish_latency_count{ferry_stage=\"p,q\"} 2",
            "ferry_tcp_group_publish_latency_created{ferry_stage=\"p,q\"} 5.5",
            "ferry_tcp_group_publish_latency_bucket{ferry_stage=\"r\\\"}\",le=\"0.1\"} 0",
            "ferry_tcp_group_publish_latency_bucket{ferry_stage=\"r\\\"}\",le=\"+Inf\"} 0",
            "ferry_tcp_group_publish_latency_sum{ferry_stage=\"r\\\"}\"} 0",
            "ferry_tcp_group_publish_latency_count{ferry_stage=\"r\\\"}\"} 0",
            "# TYPE z_total counter",
            "z_total 2",
            "# EOF",
            ""), LatencyHistogramExposition.Rewrite(body));
    }
}

/// <summary>A fact that is reported as skipped, with the reason, when promtool (Debian's <c>prometheus</c> package) is missing.</summary>
public sealed class PromtoolFactAttribute : FactAttribute
{
    public const string Binary = "/usr/bin/promtool";

    public PromtoolFactAttribute()
    {
        if (!File.Exists(Binary))
            Skip = $"{Binary} is not installed (apt-get install prometheus; .ci/run does)";
    }
}
