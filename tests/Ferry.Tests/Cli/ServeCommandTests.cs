using System.Net;
using System.Text.Json;
using Ferry.Cli;
using Ferry.Tests.Support;

namespace Ferry.Tests.Cli;

public sealed class ServeCommandTests
{
    private sealed class RunningServe : IAsyncDisposable
    {
        public readonly LineWriter Out = new();
        public readonly LineWriter Err = new();
        private readonly CancellationTokenSource _stop = new();
        public Task<int> Exit = null!;
        public IPEndPoint EndPoint = null!;

        public static async Task<RunningServe> StartAsync(params string[] args)
        {
            var run = new RunningServe();
            run.Exit = Task.Run(() => FerryCommand.RunAsync(["serve", "--bind", "127.0.0.1:0", .. args], TextReader.Null, run.Out, run.Err, run._stop.Token));
            var listening = await run.Out.WaitJsonAsync(j => LineWriter.Is(j, "listening"), "listening line");
            run.EndPoint = IPEndPoint.Parse(listening.GetProperty("local").GetString()!);
            return run;
        }

        public async Task<int> StopAsync()
        {
            _stop.Cancel();
            return await Exit.WaitAsync(TimeSpan.FromSeconds(15));
        }

        public async ValueTask DisposeAsync()
        {
            if (!Exit.IsCompleted)
                await StopAsync();
        }
    }

    [Fact]
    public async Task Serve_prints_listening_connected_packet_disconnected_and_stats_lines()
    {
        await using var serve = await RunningServe.StartAsync();
        using (var client = await FramedTestClient.ConnectAsync(serve.EndPoint))
        {
            await client.SendAsync("hello");
            await serve.Out.WaitJsonAsync(j => LineWriter.Is(j, "packet"), "packet line");
            await client.SendAsync([0xff, 0xfe, 0x00]);
            await serve.Out.WaitJsonAsync(j => LineWriter.Is(j, "packet") && j.TryGetProperty("base64", out _), "binary packet line");
        }
        var disconnected = await serve.Out.WaitJsonAsync(j => LineWriter.Is(j, "disconnected"), "disconnected line");
        await serve.Out.WaitJsonAsync(j => LineWriter.Is(j, "stats"), "stats line");
        Assert.Equal(0, await serve.StopAsync());

        var lines = serve.Out.Json.ToList();
        var connected = lines.Single(j => LineWriter.Is(j, "connected"));
        var packets = lines.Where(j => LineWriter.Is(j, "packet")).ToList();
        var conn = connected.GetProperty("conn").GetString();
        Assert.Equal("hello", packets[0].GetProperty("text").GetString());
        Assert.Equal(5, packets[0].GetProperty("len").GetInt32());
        Assert.Equal(conn, packets[0].GetProperty("conn").GetString());
        Assert.Equal(connected.GetProperty("peer").GetString(), packets[0].GetProperty("peer").GetString());
        Assert.True(packets[0].GetProperty("group").GetInt64() >= 1);
        Assert.Equal(Convert.ToBase64String([0xff, 0xfe, 0x00]), packets[1].GetProperty("base64").GetString());
        Assert.Equal("remote_closed", disconnected.GetProperty("reason").GetString());
        Assert.Equal(conn, disconnected.GetProperty("conn").GetString());
        // After 'closed', the stage's totals: two packets in, nothing dropped by the stop.
        Assert.True(LineWriter.Is(lines[^2], "closed"));
        Assert.True(LineWriter.Is(lines[^1], "stats"));
        Assert.Equal(2, lines[^1].GetProperty("packets_in").GetInt64());
        Assert.Equal(0, lines[^1].GetProperty("egress_dropped_bytes").GetInt64());
    }

    [Fact]
    public async Task Echo_sends_every_packet_back_and_quiet_prints_no_packets()
    {
        await using var serve = await RunningServe.StartAsync("--echo", "--quiet");
        using var client = await FramedTestClient.ConnectAsync(serve.EndPoint);
        await client.SendAsync("ping");
        Assert.Equal("ping"u8.ToArray(), await client.ReceiveExactlyAsync(4));
        await serve.Out.WaitJsonAsync(j => LineWriter.Is(j, "connected"), "connected line");
        Assert.DoesNotContain(serve.Out.Json, j => LineWriter.Is(j, "packet"));
    }

    [Fact]
    public async Task Idle_timeout_and_max_connections_flags_take_effect()
    {
        // The idle timeout must outlast the refused second client, or the first may be gone before it.
        await using var serve = await RunningServe.StartAsync("--idle-timeout", "2s", "--max-connections", "1");
        using var first = await FramedTestClient.ConnectAsync(serve.EndPoint);
        await serve.Out.WaitJsonAsync(j => LineWriter.Is(j, "connected"), "connected line");
        try { using var second = await FramedTestClient.ConnectAsync(serve.EndPoint); }
        catch (System.Net.Sockets.SocketException) { } // refused clients are reset; it may land during connect
        await serve.Out.WaitJsonAsync(j => LineWriter.Is(j, "disconnected") && j.GetProperty("reason").GetString() == "limit", "limit line");
        await serve.Out.WaitJsonAsync(j => LineWriter.Is(j, "disconnected") && j.GetProperty("reason").GetString() == "idle_timeout", "idle line");
    }

    [Theory]
    [InlineData(new[] { "serve", "--bind", "nowhere" }, "ferry serve: --bind 'nowhere' is not a valid address")]
    [InlineData(new[] { "serve", "--max-connections", "-3" }, "--max-connections '-3'")]
    [InlineData(new[] { "serve", "--idle-timeout", "soon" }, "--idle-timeout 'soon' is not a duration")]
    [InlineData(new[] { "serve", "--group-size" }, "--group-size needs a value")]
    [InlineData(new[] { "serve", "--frobnicate" }, "unknown option '--frobnicate'")]
    [InlineData(new[] { "serve", "--framing", "morse" }, "--framing")]
    [InlineData(new[] { "launch" }, "unknown command 'launch'")]
    // A mistyped option before the file was taken for the file, and the parser told of the file as unexpected.
    [InlineData(new[] { "check", "--sett", "x=1", "ferry.yaml" }, "ferry check: unknown option '--sett' (did you mean '--set'?)")]
    public async Task Invalid_arguments_exit_non_zero_with_one_line(string[] args, string expected)
    {
        var stdout = new LineWriter();
        var stderr = new LineWriter();
        var code = await FerryCommand.RunAsync(args, TextReader.Null, stdout, stderr, CancellationToken.None);
        Assert.Equal(2, code);
        var line = Assert.Single(stderr.Lines);
        Assert.Contains(expected, line);
        Assert.Empty(stdout.Lines);
    }

    [Fact]
    public async Task Help_describes_the_options()
    {
        var stdout = new LineWriter();
        Assert.Equal(0, await FerryCommand.RunAsync(["serve", "--help"], TextReader.Null, stdout, new LineWriter(), CancellationToken.None));
        Assert.Contains(stdout.Lines, l => l.Contains("--idle-timeout"));
    }

    [Fact]
    public void Durations_parse_in_every_documented_unit()
    {
        Assert.Equal(TimeSpan.FromMilliseconds(500), CliArguments.ParseDuration("500ms"));
        Assert.Equal(TimeSpan.FromSeconds(30), CliArguments.ParseDuration("30s"));
        Assert.Equal(TimeSpan.FromMinutes(2), CliArguments.ParseDuration("2m"));
        Assert.Equal(TimeSpan.FromHours(1), CliArguments.ParseDuration("1h"));
        Assert.Equal(TimeSpan.FromSeconds(1.5), CliArguments.ParseDuration("1.5s"));
        Assert.Null(CliArguments.ParseDuration("1.5")); // no unit: 1.5s or 1.5ms?
        Assert.Null(CliArguments.ParseDuration("-1s"));
    }
}
