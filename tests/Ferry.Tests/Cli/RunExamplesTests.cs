using System.Net;
using System.Text;
using Ferry.Bus;
using Ferry.Stages;
using Ferry.Tests.Support;

namespace Ferry.Tests.Cli;

/// <summary>Every example file runs as written (ports moved to free loopback ones with --set) and does its job.</summary>
/// <remarks>
/// Run alone (<see cref="ProcessMeterCollection"/>): the proxy example's scrape is read for its stage 'front', a name other
/// tests' in-process <c>ferry run</c>s of the same example (ProxyExampleSlowReaderTests) and proxies give their stages too;
/// the endpoint exports every stage tracked in the process, and the other 'front''s series has the same tags.
/// </remarks>
[Collection(ProcessMeterCollection.Name)]
public sealed class RunExamplesTests
{
    [Theory]
    [InlineData("examples/tcp-proxy.yaml")]
    [InlineData("examples/tcp-proxy.json")]
    public async Task The_tcp_proxy_sends_lines_upstream_and_each_answer_back_to_its_client(string example)
    {
        // Upstream: a server stage that answers every line with "up:" + the line.
        var bus = new InProcessBus();
        await using var upstream = new TcpServerStage(new TcpServerStageOptions { Name = "upstream", Bind = "127.0.0.1:0", Framing = Ferry.Framing.FramingSpec.Parse("lines") }, bus);
        var egress = bus.Topic<EgressMessage>(StageTopics.EgressPackets("upstream"));
        using var answering = bus.Topic<PacketGroup>(StageTopics.PacketGroup("upstream")).Subscribe(async (group, ct) =>
        {
            foreach (var packet in group)
            {
                var line = Encoding.UTF8.GetString(packet.Payload.Span);
                if (line.StartsWith("slow", StringComparison.Ordinal))
                    await Task.Delay(300, ct); // a slow upstream: the answer comes well after the client's FIN
                await egress.PublishAsync(EgressMessage.To(packet.ConnectionId, Encoding.UTF8.GetBytes("up:" + line)), ct);
            }
        });
        var upstreamAt = await upstream.StartAsync();
        var metricsPort = FreePorts.One();

        await using var run = RunningCommand.Start(null, "run", RepoFiles.Path(example),
            "--set", "stages.front.config.bind=127.0.0.1:0",
            "--set", $"stages.back.config.connect=127.0.0.1:{upstreamAt.Port}",
            "--set", $"telemetry.prometheus.listen=127.0.0.1:{metricsPort}");
        var front = await run.ListeningAsync("front");
        await run.Out.WaitJsonAsync(j => LineWriter.Is(j, "connected") && j.GetProperty("stage").GetString() == "back", "back connected upstream");

        using var alice = await FramedTestClient.ConnectAsync(front);
        using var bob = await FramedTestClient.ConnectAsync(front);
        await alice.SendAsync("hello from alice\n");
        Assert.Equal("up:hello from alice\n", Encoding.UTF8.GetString(await alice.ReceiveExactlyAsync("up:hello from alice\n".Length)));
        await bob.SendAsync("bob here\n");
        Assert.Equal("up:bob here\n", Encoding.UTF8.GetString(await bob.ReceiveExactlyAsync("up:bob here\n".Length)));

        // A client that sends its line and shuts down its side at once (printf … | nc -q1) still gets its answer:
        // the example's half_close_linger keeps its connection open for it (without, it closed at the FIN).
        using (var carol = await FramedTestClient.ConnectAsync(front))
        {
            await carol.SendAsync("slow carol\n");
            carol.Socket.Shutdown(System.Net.Sockets.SocketShutdown.Send);
            Assert.Equal("up:slow carol\n", Encoding.UTF8.GetString(await carol.ReceiveExactlyAsync("up:slow carol\n".Length)));
        }

        if (example.EndsWith(".yaml", StringComparison.Ordinal))
        {
            // The example's Prometheus endpoint reports the two clients of 'front'.
            using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
            string scrape = "";
            await Poll.UntilAsync(() =>
            {
                scrape = http.GetStringAsync($"http://127.0.0.1:{metricsPort}/metrics").GetAwaiter().GetResult();
                return scrape.Split('\n').Any(l => l.StartsWith("ferry_tcp_connections_active{", StringComparison.Ordinal) && l.Contains("ferry_stage=\"front\"") && l.EndsWith(" 2", StringComparison.Ordinal));
            }, "ferry_tcp_connections_active 2 for front on the scrape endpoint");
        }
        Assert.Equal(0, await run.StopAsync());
    }

    [Fact]
    public async Task Seed_003s_io_tcp_block_runs_as_written_and_splits_lines_without_the_delimiter()
    {
        await using var run = RunningCommand.Start(null, "run", RepoFiles.Path("examples/seed003-io-tcp.yaml"), "--set", "tcp-server.config.bind=127.0.0.1:0");
        var at = await run.ListeningAsync("tcp-server");
        using var client = await FramedTestClient.ConnectAsync(at);
        await client.SendAsync("hello\nworld\n");
        await run.Out.WaitJsonAsync(j => LineWriter.Is(j, "packet") && j.GetProperty("text").GetString() == "world", "the second line");
        var texts = run.Out.Json.Where(j => LineWriter.Is(j, "packet")).Select(j => j.GetProperty("text").GetString()).ToList();
        Assert.Equal(["hello", "world"], texts);
        Assert.All(run.Out.Json.Where(j => LineWriter.Is(j, "packet")), j => Assert.Equal("tcp-server", j.GetProperty("stage").GetString()));
        Assert.Equal(0, await run.StopAsync());
    }

    [Fact]
    public async Task Seed_004s_node_configuration_runs_as_written_on_its_host()
    {
        await using var run = RunningCommand.Start(null, "run", RepoFiles.Path("examples/seed004-node.yaml"), "--set", "stages.node.config.port=0");
        var at = await run.ListeningAsync("node");
        Assert.Equal(IPAddress.Loopback, at.Address);
        using var client = await FramedTestClient.ConnectAsync(at);
        await client.SendAsync("ping");
        await run.Out.WaitJsonAsync(j => LineWriter.Is(j, "packet") && j.GetProperty("text").GetString() == "ping", "the packet");
        Assert.Equal(0, await run.StopAsync());
    }

    [Fact]
    public void The_readme_shows_the_tcp_proxy_file_as_it_is_and_the_json_example_is_the_same_pipeline()
    {
        // README.md quotes examples/tcp-proxy.yaml in the yaml block after its link; a newcomer copies either.
        var readme = File.ReadAllText(RepoFiles.Path("README.md"));
        var link = readme.IndexOf("[`examples/tcp-proxy.yaml`](examples/tcp-proxy.yaml)", StringComparison.Ordinal);
        Assert.True(link >= 0, "README.md links examples/tcp-proxy.yaml");
        var start = readme.IndexOf("```yaml\n", link, StringComparison.Ordinal) + "```yaml\n".Length;
        var quoted = readme[start..readme.IndexOf("```", start, StringComparison.Ordinal)];

        var file = Tree("examples/tcp-proxy.yaml", File.ReadAllText(RepoFiles.Path("examples/tcp-proxy.yaml")));
        Assert.Equal(file, Tree("README.md (tcp-proxy block)", quoted));
        Assert.Equal(file, Tree("examples/tcp-proxy.json", File.ReadAllText(RepoFiles.Path("examples/tcp-proxy.json"))));
    }

    /// <summary>A pipeline file's tree as one line (keys in order, scalars as read), whatever its style: YAML block, flow or JSON.</summary>
    private static string Tree(string file, string text)
    {
        var problems = new List<Ferry.Hosting.Settings.SettingProblem>();
        var root = Ferry.Cli.Pipeline.ConfigFileLoader.Load(file, text, problems);
        Assert.True(root is not null, $"{file}: {string.Join("; ", problems)}");
        return Render(root!);

        static string Render(Ferry.Cli.Pipeline.ConfigNode node) => node.Kind switch
        {
            Ferry.Cli.Pipeline.ConfigNodeKind.Mapping => "{" + string.Join(", ", node.Nodes.Select(c => $"{c.Key}: {Render(c)}")) + "}",
            Ferry.Cli.Pipeline.ConfigNodeKind.Sequence => "[" + string.Join(", ", node.Nodes.Select(Render)) + "]",
            _ => node.Value ?? "null",
        };
    }

    [Theory]
    [InlineData("examples/tcp-proxy.yaml")]
    [InlineData("examples/tcp-proxy.json")]
    [InlineData("examples/seed003-io-tcp.yaml")]
    [InlineData("examples/seed004-node.yaml")]
    [InlineData("examples/nats-gateway.yaml")] // check validates without connecting; the run is in Ferry.Nats.Tests (RunFileTests)
    public async Task Every_example_passes_check(string example)
    {
        var stdout = new LineWriter();
        var stderr = new LineWriter();
        Assert.Equal(0, await Ferry.Cli.FerryCommand.RunAsync(["check", RepoFiles.Path(example)], TextReader.Null, stdout, stderr, CancellationToken.None));
        Assert.Contains("valid", Assert.Single(stdout.Lines));
        Assert.Empty(stderr.Lines);
    }
}
