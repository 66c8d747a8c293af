using System.Net;
using System.Net.Sockets;
using System.Text;
using Ferry.Framing;
using Ferry.Tests.Support;

namespace Ferry.Tests.Cli;

/// <summary>
/// <c>target: reply</c> in <c>ferry run</c>: an answer goes only to the client whose request it answers, also
/// after a request was lost (an upstream restart with a request in flight, a request the upstream stage dropped).
/// </summary>
public sealed class RunReplyTests : IDisposable
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(20);
    private static readonly FramedTestClientOptions Lines = new() { Framing = FramingSpec.Parse("lines"), Timeout = TimeSpan.FromSeconds(10) };
    private readonly string _dir = Directory.CreateTempSubdirectory("ferry-reply-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string Proxy(int upstreamPort, string backExtra = "", string frontExtra = "")
    {
        var path = Path.Combine(_dir, "proxy.yaml");
        File.WriteAllText(path, $$$"""
            stages:
              - {name: front, type: tcp_server, config: {bind: "127.0.0.1:0", framing: lines{{{frontExtra}}}}}
              - {name: back, type: tcp_client, config: {connect: "127.0.0.1:{{{upstreamPort}}}", framing: lines, reconnect_wait: 20ms, reconnect_max_wait: 100ms{{{backExtra}}}}}
            routes:
              - {from: front, to: back}
              - {from: back, to: front, target: reply}
            """);
        return path;
    }

    private static System.Text.Json.JsonElement? LastStats(RunningCommand run, string stage)
        => run.Out.Json.LastOrDefault(j => LineWriter.Is(j, "stats") && j.GetProperty("stage").GetString() == stage) is { ValueKind: System.Text.Json.JsonValueKind.Object } last ? last : null;

    private static int Connected(RunningCommand run, string stage)
        => run.Out.Json.Count(j => LineWriter.Is(j, "connected") && j.GetProperty("stage").GetString() == stage);

    [Fact]
    public async Task After_an_upstream_restart_with_a_request_unanswered_the_next_clients_answer_goes_to_that_client()
    {
        using var upstream = new TcpListener(IPAddress.Loopback, 0);
        upstream.Start();
        await using var run = RunningCommand.Start(null, "run", Proxy(((IPEndPoint)upstream.LocalEndpoint).Port), "--quiet");
        var front = await run.ListeningAsync("front");

        using (var first = await Upstream.AcceptAsync(upstream))
        {
            await Poll.UntilAsync(() => Connected(run, "back") == 1, "back connected upstream", Deadline);
            await using var alice = await FramedTestClient.ConnectAsync(front, Lines);
            await alice.SendMessageAsync("A1");
            Assert.Equal("A1", await first.ReadLineAsync());
            await first.WriteLineAsync("A1");
            Assert.Equal("A1", (await alice.ReceiveMessageAsync()).Text);

            await alice.SendMessageAsync("A2"); // read upstream, never answered: the upstream restarts
            Assert.Equal("A2", await first.ReadLineAsync());
            first.Close();

            using var second = await Upstream.AcceptAsync(upstream);
            await Poll.UntilAsync(() => Connected(run, "back") == 2, "back connected upstream again", Deadline);
            await using var bob = await FramedTestClient.ConnectAsync(front, Lines);
            await bob.SendMessageAsync("B-SECRET");
            Assert.Equal("B-SECRET", await second.ReadLineAsync());
            await second.WriteLineAsync("B-SECRET");
            Assert.Equal("B-SECRET", (await bob.ReceiveMessageAsync()).Text); // the old book gave it to alice (A2's stale entry)

            await alice.SendMessageAsync("A3");
            Assert.Equal("A3", await second.ReadLineAsync());
            await second.WriteLineAsync("A3");
            Assert.Equal("A3", (await alice.ReceiveMessageAsync()).Text); // alice's next message is her own answer, nothing of bob's
        }
        Assert.Equal(0, await run.StopAsync());
    }

    [Fact]
    public async Task Requests_the_upstream_stage_drops_under_load_do_not_shift_later_answers_onto_other_clients()
    {
        using var upstream = new TcpListener(IPAddress.Loopback, 0);
        upstream.Server.ReceiveBufferSize = 4096;
        upstream.Start();
        await using var run = RunningCommand.Start(null, "run", Proxy(((IPEndPoint)upstream.LocalEndpoint).Port, ", egress_buffer: 4KiB, egress_overflow: drop, stats_interval: 50ms", ", stats_interval: 50ms"), "--quiet");
        var front = await run.ListeningAsync("front");
        using var up = await Upstream.AcceptAsync(upstream);
        await Poll.UntilAsync(() => Connected(run, "back") == 1, "back connected upstream", Deadline);

        // Alice floods while the upstream does not read, until 'back' has dropped some of her requests.
        await using var alice = await FramedTestClient.ConnectAsync(front, Lines);
        var line = new string('a', 1000);
        var batch = Encoding.ASCII.GetBytes(string.Concat(Enumerable.Repeat(line + "\n", 64)));
        var until = DateTime.UtcNow + Deadline;
        while (!run.Out.Json.Any(j => LineWriter.Is(j, "stats") && j.GetProperty("stage").GetString() == "back" && j.GetProperty("egress_dropped_packets").GetInt64() > 0))
        {
            Assert.True(DateTime.UtcNow < until, "back never dropped a request");
            await alice.SendAsync(batch);
        }

        // Alice leaves (what she still had in flight on the way is discarded with her connection, not read
        // for minutes on a loaded machine); the upstream answers everything it has and will read, in order;
        // then bob asks. Answers to alice's requests find nobody waiting and are dropped, never given to bob.
        await alice.DisposeAsync();
        up.EchoAll();

        // Bob asks only once every request of alice's that 'front' read has left 'back' (sent upstream or
        // dropped): while her backlog still fills 'back''s egress, bob's request would be dropped like hers
        // (egress_overflow: drop), and he would rightly get no answer.
        await Poll.UntilAsync(() =>
            LastStats(run, "front") is { } f && f.GetProperty("connections").GetInt32() == 0
            && LastStats(run, "back") is { } b
            && b.GetProperty("packets_out").GetInt64() + b.GetProperty("egress_dropped_packets").GetInt64() == f.GetProperty("packets_in").GetInt64(),
            "alice's requests all sent upstream or dropped by 'back'", Deadline);
        await using var bob = await FramedTestClient.ConnectAsync(front, Lines);
        await bob.SendMessageAsync("B-SECRET");
        Assert.Equal("B-SECRET", (await bob.ReceiveMessageAsync()).Text); // the old book gave it to one of alice's dropped requests' entries
        await run.Out.WaitJsonAsync(j => LineWriter.Is(j, "error") && j.GetProperty("message").GetString()!.StartsWith("reply back -> front:", StringComparison.Ordinal), "the loss reported");
        Assert.Equal(0, await run.StopAsync());
    }

    /// <summary>One accepted upstream connection that the test drives line by line.</summary>
    private sealed class Upstream : IDisposable
    {
        private readonly TcpClient _client;
        private readonly StreamReader _reader;
        private readonly CancellationTokenSource _stop = new();

        private Upstream(TcpClient client)
        {
            _client = client;
            _reader = new StreamReader(client.GetStream(), Encoding.UTF8);
        }

        public static async Task<Upstream> AcceptAsync(TcpListener listener)
        {
            using var timeout = new CancellationTokenSource(Deadline);
            return new Upstream(await listener.AcceptTcpClientAsync(timeout.Token));
        }

        public async Task<string?> ReadLineAsync()
        {
            using var timeout = new CancellationTokenSource(Deadline);
            return await _reader.ReadLineAsync(timeout.Token);
        }

        public async Task WriteLineAsync(string text)
        {
            using var timeout = new CancellationTokenSource(Deadline);
            await _client.GetStream().WriteAsync(Encoding.UTF8.GetBytes(text + "\n"), timeout.Token);
        }

        /// <summary>Answers every line with itself from now on, until disposed.</summary>
        public void EchoAll()
        {
            _ = Task.Run(async () =>
            {
                try
                {
                    while (await _reader.ReadLineAsync(_stop.Token) is { } line)
                        await _client.GetStream().WriteAsync(Encoding.UTF8.GetBytes(line + "\n"), _stop.Token);
                }
                catch (Exception ex) when (ex is OperationCanceledException or IOException or ObjectDisposedException)
                {
                }
            });
        }

        public void Close() => _client.Client.Close();

        public void Dispose()
        {
            _stop.Cancel();
            _client.Dispose();
            _stop.Dispose();
        }
    }
}
