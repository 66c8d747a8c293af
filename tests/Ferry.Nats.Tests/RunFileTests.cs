using System.Text;
using Ferry.Nats.Tests.Support;
using NatsWorker;

namespace Ferry.Nats.Tests;

/// <summary>
/// <c>ferry run examples/nats-gateway.yaml</c> (a server stage ↔ NATS subjects) as written, only its NATS URL and
/// port moved to the test's own: a client's line arrives on the subject with its headers, and the example
/// worker's reply by <c>conn.id</c> reaches that client.
/// </summary>
public sealed class RunFileTests
{
    [SkippableTheory]
    [InlineData("core")]
    [InlineData("jetstream")]
    public async Task The_nats_gateway_example_publishes_lines_with_headers_and_delivers_replies_by_conn_id(string mode)
    {
        await using var server = await NatsServer.StartNewAsync();
        await using var nats = await Observer.ConnectAsync(server);
        await using var ingress = await Observer.CollectAsync(nats, "ferry.gateway.in");

        await using var run = await ServeProcess.StartCommandAsync("run", ExampleFile("nats-gateway.yaml"),
            "--set", "stages.gateway.config.bind=127.0.0.1:0", "--set", $"bus.url={server.Url}", "--set", $"bus.mode={mode}");

        var worker = new UppercaseWorker(nats, "gateway", forbidden: "forbidden");
        using var stop = new CancellationTokenSource();
        var running = Task.Run(() => mode == "core" ? worker.RunCoreAsync(stop.Token) : worker.RunJetStreamAsync(stop.Token));
        await worker.Subscribed.WaitAsync(TimeSpan.FromSeconds(10));

        using var client = await TestClient.ConnectAsync(run.Local.Port);
        await client.SendAsync("hello gateway\n");
        await client.WaitForTextAsync(t => t == "HELLO GATEWAY\n", TimeSpan.FromSeconds(20));

        await Eventually.TrueAsync(() => !ingress.Messages.IsEmpty, TimeSpan.FromSeconds(10), () => "nothing on ferry.gateway.in");
        var message = Assert.Single(ingress.Messages);
        Assert.Equal("hello gateway", Encoding.UTF8.GetString(message.Data!));
        var headers = message.Headers!;
        Assert.True(Ferry.Connections.ConnectionId.TryParse(headers[NatsHeaderNames.ConnectionId].ToString(), out _));
        Assert.Equal("127.0.0.1", headers[NatsHeaderNames.PeerIp].ToString());
        Assert.Equal(client.LocalPort.ToString(System.Globalization.CultureInfo.InvariantCulture), headers[NatsHeaderNames.PeerPort].ToString());
        Assert.True(headers.ContainsKey(NatsHeaderNames.ReceivedAt));
        Assert.Equal(1L, Interlocked.Read(ref worker.Replied));

        await stop.CancelAsync();
        try
        {
            await running;
        }
        catch (OperationCanceledException)
        {
        }
    }

    [SkippableFact]
    public async Task The_prometheus_scrape_of_ferry_run_says_whether_the_gateway_has_its_broker()
    {
        await using var server = await NatsServer.StartNewAsync();
        var metrics = Ferry.Tests.Support.FreePorts.One();
        await using var run = await ServeProcess.StartCommandAsync("run", ExampleFile("nats-gateway.yaml"),
            "--set", "stages.gateway.config.bind=127.0.0.1:0", "--set", $"bus.url={server.Url}",
            "--set", $"telemetry.prometheus.listen=127.0.0.1:{metrics}");
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        var scrape = $"http://127.0.0.1:{metrics}/metrics";
        Assert.Contains("ferry_nats_connected{", await http.GetStringAsync(scrape));
        Assert.Matches("ferry_nats_connected\\{[^}]*ferry_stage=\"gateway\"[^}]*\\} 1\n", await http.GetStringAsync(scrape));

        server.Kill();
        string text = "";
        await Eventually.TrueAsync(() => System.Text.RegularExpressions.Regex.IsMatch(text = http.GetStringAsync(scrape).GetAwaiter().GetResult(),
            "ferry_nats_connected\\{[^}]*ferry_stage=\"gateway\"[^}]*\\} 0\n"), TimeSpan.FromSeconds(20), () => "still connected on the scrape: " + text);
        Assert.Matches("ferry_nats_disconnects_total\\{[^}]*ferry_stage=\"gateway\"[^}]*\\} 1\n", text);
    }

    [SkippableFact]
    public async Task The_prometheus_scrape_of_ferry_serve_with_nats_says_whether_the_gateway_has_its_broker()
    {
        await using var server = await NatsServer.StartNewAsync();
        var metrics = Ferry.Tests.Support.FreePorts.One();
        await using var serve = await ServeProcess.StartAsync("--bind", "127.0.0.1:0", "--framing", "lines", "--quiet", "--nats", server.Url,
            "--metrics-listen", $"127.0.0.1:{metrics}");
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        Assert.Matches("ferry_nats_connected\\{[^}]*ferry_stage=\"tcp_server\"[^}]*\\} 1\n", await http.GetStringAsync($"http://127.0.0.1:{metrics}/metrics"));
    }

    private static string ExampleFile(string name)
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "Ferry.slnx")))
                return Path.Combine(dir.FullName, "examples", name);
        throw new FileNotFoundException("the repository root (Ferry.slnx) is not above " + AppContext.BaseDirectory);
    }
}
