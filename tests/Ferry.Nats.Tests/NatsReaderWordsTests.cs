using Ferry.Bus;
using Ferry.Cli;
using Ferry.Framing;
using Ferry.Nats.Tests.Support;
using Ferry.Stages;
using Ferry.Tests.Bridge;
using Microsoft.Extensions.Logging;
using NATS.Client.JetStream;

namespace Ferry.Nats.Tests;

/// <summary>
/// What the gateway says once it runs names an option in the words of whoever set the options: the property to code
/// (<c>NatsGatewayOptions.MaxPendingEgress</c>), the key as the file spells it to <c>ferry run</c> (<c>bus.max_pending_egress</c>).
/// The shared consumer's start error, the outage line, the drop line and the stream lines all said the snake_case key to every reader.
/// </summary>
public sealed class NatsReaderWordsTests
{
    [SkippableTheory]
    [InlineData(NatsDeliveryMode.Core, "ingress that finds no room within 5s (NatsGatewayOptions.PublishTimeout) is dropped and counted")]
    [InlineData(NatsDeliveryMode.JetStream, "ingress waits in the window of 256 (NatsGatewayOptions.MaxInFlight) and is sent again")]
    public async Task The_outage_line_names_the_property_to_code(NatsDeliveryMode mode, string said)
    {
        await using var server = await NatsServer.StartNewAsync();
        var logs = new CapturingLoggerFactory(LogLevel.Information, timestamps: false);
        await using var gateway = await Gateway.StartAsync(server, "words", configure: o => o.Mode = mode, logs: logs);

        server.Kill();
        await Eventually.TrueAsync(() => logs.All.Any(Lost), TimeSpan.FromSeconds(20), () => "no outage line: " + logs.Text);
        // Old code: "within publish_timeout", "in the max_in_flight window".
        Assert.Contains(said, logs.All.Single(Lost), StringComparison.Ordinal);
    }

    [SkippableTheory]
    [InlineData("core", "ingress that finds no room within 5s (bus.publish_timeout) is dropped and counted")]
    [InlineData("jetstream", "ingress waits in the window of 256 (bus.max_in_flight) and is sent again")]
    public async Task The_outage_line_of_ferry_run_names_the_files_key(string mode, string said)
    {
        await using var server = await NatsServer.StartNewAsync();
        await using var run = await FerryRun.StartAsync($$"""
            stages:
              - name: words
                type: tcp_server
                config: {bind: "127.0.0.1:0", framing: lines}
            bus: {type: nats, url: "{{server.Url}}", mode: {{mode}}}
            """);
        await run.WaitForAsync("stage words on NATS");

        server.Kill();
        await run.WaitForAsync("lost; reconnecting");
        // Old code: "within publish_timeout", "in the max_in_flight window": keys of no run file.
        Assert.Contains(said, run.Stderr, StringComparison.Ordinal);
    }

    [SkippableFact]
    public async Task The_shared_consumers_start_error_names_the_files_key_to_ferry_run()
    {
        await using var server = await NatsServer.StartNewAsync();
        await using var nats = await Observer.ConnectAsync(server);
        var js = new NatsJSContext(nats);
        // Another instance of the stage (as another process would be) running with another max_pending_egress.
        await using var stage = new TcpServerStage(new TcpServerStageOptions { Name = "pair", Bind = "127.0.0.1:0", Framing = RawFraming.Default }, new InProcessBus());
        await using var first = new NatsGateway(stage, new NatsGatewayOptions { Url = server.Url, Mode = NatsDeliveryMode.JetStream, MaxPendingEgress = 64 },
            TestLogging.Factory, 0xb0000001);
        await first.StartAsync();
        await Eventually.TrueAsync(async () => (await js.GetConsumerAsync("ferry_pair_out", "pair-b0000001")).Info.NumWaiting > 0,
            TimeSpan.FromSeconds(10), () => "the first gateway does not pull from its own consumer");

        await using var run = await FerryRun.StartAsync($$"""
            stages:
              - name: pair
                type: tcp_server
                config: {bind: "127.0.0.1:0", framing: lines}
            bus: {type: nats, url: "{{server.Url}}", mode: jetstream}
            """);
        Assert.Equal(1, await run.ExitAsync());
        // Old code: "max_pending_egress is 256, but …", neither the file's key nor its path.
        Assert.Contains("NATS gateway of stage 'pair': bus.max_pending_egress is 256, but the egress consumer 'pair-any' of stream 'ferry_pair_out', shared by every gateway "
            + "of the stage for '.any' egress, has max_ack_pending 64 from the bus.max_pending_egress of another gateway of the stage that is running now; "
            + "give every gateway of the stage the same bus.max_pending_egress", run.Stderr, StringComparison.Ordinal);
    }

    [SkippableFact]
    public async Task Deleted_streams_are_named_by_the_files_keys_to_ferry_run()
    {
        await using var server = await NatsServer.StartNewAsync();
        await using var nats = await Observer.ConnectAsync(server);
        var port = Ferry.Tests.Support.FreePorts.One();
        await using var run = await FerryRun.StartAsync($$"""
            stages:
              - name: gone
                type: tcp_server
                config: {bind: "127.0.0.1:{{port}}", framing: lines}
            bus: {type: nats, url: "{{server.Url}}", mode: jetstream, egress_stream: "{prefix}_{stage}_replies"}
            """);
        await run.WaitForAsync("stage gone on NATS");
        var js = new NatsJSContext(nats);

        await js.DeleteStreamAsync("ferry_gone_replies");
        await run.WaitForAsync("egress stream ferry_gone_replies (");
        // Old code: "(egress_stream)". The key the file writes, at its place.
        Assert.Contains("egress stream ferry_gone_replies (bus.egress_stream) was missing while the gateway runs", run.Stderr, StringComparison.Ordinal);

        // A publish that finds no ingress stream (a key the file does not write, where it would be).
        await js.DeleteStreamAsync("ferry_gone_in");
        using var client = await TestClient.ConnectAsync(port);
        await client.SendAsync("after the delete\n");
        await run.WaitForAsync("was stream 'ferry_gone_in' (");
        // Old code: "(ingress_stream)".
        Assert.Contains("was stream 'ferry_gone_in' (bus.ingress_stream) deleted, or its subjects changed?", run.Stderr, StringComparison.Ordinal);
    }

    [SkippableFact]
    public async Task A_server_without_JetStream_is_answered_with_the_readers_way_to_turn_it_off()
    {
        await using var server = await NatsServer.StartNewAsync(jetStream: false);
        await using var stage = new TcpServerStage(new TcpServerStageOptions { Name = "nojs", Bind = "127.0.0.1:0", Framing = RawFraming.Default }, new InProcessBus());
        await using var gateway = new NatsGateway(stage, new NatsGatewayOptions { Url = server.Url, Mode = NatsDeliveryMode.JetStream });
        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => gateway.StartAsync());
        // Old code: "or use mode core" to every reader.
        Assert.EndsWith("or a jetstream block in its configuration), or set NatsGatewayOptions.Mode to NatsDeliveryMode.Core", error.Message, StringComparison.Ordinal);

        await using (var run = await FerryRun.StartAsync($$"""
            stages:
              - name: nojs
                type: tcp_server
                config: {bind: "127.0.0.1:0", framing: lines}
            bus: {type: nats, url: "{{server.Url}}", mode: jetstream}
            """))
        {
            Assert.Equal(1, await run.ExitAsync());
            Assert.Contains("or a jetstream block in its configuration), or set bus.mode to core", run.Stderr, StringComparison.Ordinal);
        }

        var stderr = new StringWriter();
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        var code = await FerryCommand.RunAsync(["serve", "--bind", "127.0.0.1:0", "--nats", server.Url, "--nats-mode", "jetstream"], TextReader.Null, new StringWriter(),
            TextWriter.Synchronized(stderr), deadline.Token);
        Assert.NotEqual(0, code);
        Assert.Contains("or a jetstream block in its configuration), or set --nats-mode to core", stderr.ToString(), StringComparison.Ordinal);
    }

    private static bool Lost(string line) => line.Contains("lost; reconnecting", StringComparison.Ordinal);

    /// <summary><c>ferry run</c> of a file, in this process, its stderr at information level kept.</summary>
    private sealed class FerryRun : IAsyncDisposable
    {
        private readonly StringWriter _stderr = new();
        private readonly CancellationTokenSource _stop = new(TimeSpan.FromSeconds(90));
        private readonly string _file;
        private Task<int> _run = Task.FromResult(0);

        private FerryRun(string file) => _file = file;

        public string Stderr
        {
            get
            {
                lock (_stderr)
                    return _stderr.ToString();
            }
        }

        public static async Task<FerryRun> StartAsync(string yaml)
        {
            var file = Path.Combine(Path.GetTempPath(), $"ferry-words-{Guid.NewGuid():n}.yaml");
            await File.WriteAllTextAsync(file, yaml);
            var run = new FerryRun(file);
            run._run = Task.Run(() => FerryCommand.RunAsync(["run", file, "--log-level", "info"], TextReader.Null, new StringWriter(), new Locked(run._stderr), run._stop.Token));
            return run;
        }

        public async Task WaitForAsync(string text)
        {
            await Eventually.TrueAsync(() => Stderr.Contains(text, StringComparison.Ordinal) || _run.IsCompleted, TimeSpan.FromSeconds(30), () => $"no '{text}' in: {Stderr}");
            Assert.True(Stderr.Contains(text, StringComparison.Ordinal), $"ferry run ended without '{text}': {Stderr}");
        }

        public Task<int> ExitAsync() => _run.WaitAsync(TimeSpan.FromSeconds(60));

        public async ValueTask DisposeAsync()
        {
            await _stop.CancelAsync();
            try
            {
                await _run.WaitAsync(TimeSpan.FromSeconds(30));
            }
            finally
            {
                _stop.Dispose();
                File.Delete(_file);
            }
        }

        /// <summary>Writes under the lock <see cref="Stderr"/> reads with.</summary>
        private sealed class Locked(StringWriter inner) : TextWriter
        {
            public override System.Text.Encoding Encoding => inner.Encoding;

            public override void Write(char value)
            {
                lock (inner)
                    inner.Write(value);
            }

            public override void Write(string? value)
            {
                lock (inner)
                    inner.Write(value);
            }

            public override void WriteLine(string? value)
            {
                lock (inner)
                    inner.WriteLine(value);
            }
        }
    }
}
