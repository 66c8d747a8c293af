using System.Net;
using System.Net.Sockets;
using Ferry.Cli;
using Ferry.Tests.Support;

namespace Ferry.Tests.Cli;

public sealed class ConnectCommandTests
{
    [Fact]
    public async Task Serve_and_connect_make_a_chat_pair_even_when_connect_starts_first()
    {
        int port = FreePorts.One();
        using var stop = new CancellationTokenSource();

        var connectIn = new QueueReader();
        var connectOut = new LineWriter();
        var connect = Task.Run(() => FerryCommand.RunAsync(
            ["connect", $"127.0.0.1:{port}", "--framing", "lines", "--reconnect-wait", "20ms", "--reconnect-max-wait", "100ms"],
            connectIn, connectOut, new LineWriter(), stop.Token));
        await connectOut.WaitJsonAsync(j => LineWriter.Is(j, "connect_failed"), "a refused attempt");

        var serveIn = new QueueReader();
        var serveOut = new LineWriter();
        var serve = Task.Run(() => FerryCommand.RunAsync(["serve", "--bind", $"127.0.0.1:{port}", "--framing", "lines"], serveIn, serveOut, new LineWriter(), stop.Token));
        await connectOut.WaitJsonAsync(j => LineWriter.Is(j, "connected"), "connected");

        connectIn.Send("hello from the client");
        var atServer = await serveOut.WaitJsonAsync(j => LineWriter.Is(j, "packet"), "the client's line at the server");
        Assert.Equal("hello from the client", atServer.GetProperty("text").GetString());

        serveIn.Send($$"""{"type":"send","conn":"{{atServer.GetProperty("conn").GetString()}}","text":"hello from the server"}""");
        var atClient = await connectOut.WaitJsonAsync(j => LineWriter.Is(j, "packet"), "the server's line at the client");
        Assert.Equal("hello from the server", atClient.GetProperty("text").GetString());

        stop.Cancel();
        Assert.Equal(0, await connect.WaitAsync(TimeSpan.FromSeconds(15)));
        Assert.Equal(0, await serve.WaitAsync(TimeSpan.FromSeconds(15)));
    }

    [Theory]
    [InlineData(new[] { "connect" }, "needs HOST:PORT")]
    [InlineData(new[] { "connect", ":80" }, "ferry connect: HOST:PORT ':80' is not a remote address")]
    [InlineData(new[] { "connect", "127.0.0.1:9", "--framing", "bogus" }, "--framing")]
    [InlineData(new[] { "connect", "127.0.0.1:9", "--idle-timeout", "x" }, "--idle-timeout 'x'")]
    public async Task Bad_arguments_exit_2_with_one_line(string[] args, string expected)
    {
        var stderr = new LineWriter();
        Assert.Equal(2, await FerryCommand.RunAsync(args, TextReader.Null, new LineWriter(), stderr, CancellationToken.None));
        Assert.Contains(expected, Assert.Single(stderr.Lines));
    }

    /// <summary><c>ferry connect</c>, in process, to a plain loopback listener the test drives: the server side of these tests.</summary>
    private sealed class ConnectToListener : IDisposable
    {
        private readonly CancellationTokenSource _stop = new();
        private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
        private Task<int> _run = Task.FromResult(0);

        public LineWriter Out { get; } = new();
        public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

        /// <summary>Starts <c>ferry connect 127.0.0.1:PORT --framing lines</c> plus <paramref name="args"/>, reading <paramref name="stdin"/>.</summary>
        public static ConnectToListener Start(TextReader stdin, params string[] args)
        {
            var run = new ConnectToListener();
            run._listener.Start();
            run._run = Task.Run(() => FerryCommand.RunAsync(["connect", $"127.0.0.1:{run.Port}", "--framing", "lines", .. args], stdin, run.Out, new LineWriter(), run._stop.Token));
            return run;
        }

        public Task<TcpClient> AcceptAsync() => _listener.AcceptTcpClientAsync().WaitAsync(TimeSpan.FromSeconds(30));

        /// <summary>Stops the command (as Ctrl-C does) and returns its exit code.</summary>
        public async Task<int> StopAsync()
        {
            _stop.Cancel();
            return await _run.WaitAsync(TimeSpan.FromSeconds(15));
        }

        public void Dispose()
        {
            _stop.Cancel();
            _listener.Stop();
            _stop.Dispose();
        }
    }

    [Fact]
    public async Task A_stdin_line_longer_than_the_egress_buffer_is_not_kept_or_sent_and_says_so()
    {
        // 1 MiB + 1 characters before the first newline: one more than the default egress buffer (1 MiB). Before the bound,
        // such a line was read whole however long it was (stdin with no newline grew memory without end).
        using var connect = ConnectToListener.Start(new StringReader(new string('x', (1 << 20) + 1) + "\nhello\n"));
        using var server = await connect.AcceptAsync();
        using var lines = new StreamReader(server.GetStream());
        Assert.Equal("hello", await lines.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(30)));
        var error = await connect.Out.WaitJsonAsync(j => LineWriter.Is(j, "error"), "the error line");
        Assert.Equal($"stdin line of {(1 << 20) + 1} characters is longer than the {1 << 20} allowed (the egress buffer); not sent: "
            + "shorten it or raise --egress-buffer", error.GetProperty("message").GetString());
        Assert.Equal(0, await connect.StopAsync());
    }

    [Fact]
    public async Task A_connection_the_server_ends_is_followed_by_connect_failed_with_its_reason_and_attempt_0()
    {
        // Before: {"type":"connect_failed",...,"attempt":0,"reason":"connection lost",...}: not why.
        using var connect = ConnectToListener.Start(new QueueReader(), "--reconnect-wait", "10s");
        using (await connect.AcceptAsync())
            await connect.Out.WaitJsonAsync(j => LineWriter.Is(j, "connected"), "connected");
        var failed = await connect.Out.WaitJsonAsync(j => LineWriter.Is(j, "connect_failed"), "connect_failed after the close");
        Assert.Equal(0, failed.GetProperty("attempt").GetInt32()); // no attempt failed: the connection ended
        Assert.Equal($"connection to 127.0.0.1:{connect.Port} ended (remote_closed)", failed.GetProperty("reason").GetString());
        Assert.False(failed.GetProperty("giving_up").GetBoolean());
        Assert.Equal(0, await connect.StopAsync());
    }

    [Fact]
    public async Task A_line_over_the_egress_buffer_once_framed_is_refused_saying_its_framed_size_and_the_flag()
    {
        // Before: "message dropped: not connected and the egress policy is drop, or the buffer is full", neither of which
        // was so: connect holds while disconnected, and this line (64 characters) passed the line bound but not its newline.
        var stdin = new QueueReader();
        using var connect = ConnectToListener.Start(stdin, "--egress-buffer", "64");
        using var server = await connect.AcceptAsync();
        await connect.Out.WaitJsonAsync(j => LineWriter.Is(j, "connected"), "connected");
        stdin.Send(new string('x', 64));
        stdin.Send("fits");
        using var lines = new StreamReader(server.GetStream());
        Assert.Equal("fits", await lines.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(30)));
        var error = await connect.Out.WaitJsonAsync(j => LineWriter.Is(j, "error"), "the error line");
        Assert.Equal("stdin line of 64 bytes is 65 bytes framed (lines), more than the egress buffer holds (64 bytes); not sent: "
            + "shorten it or raise --egress-buffer", error.GetProperty("message").GetString());
        Assert.Equal(0, await connect.StopAsync());
    }

    [Fact]
    public async Task A_line_dropped_because_the_server_reads_too_slowly_says_the_buffer_is_full()
    {
        // Before: the same "not connected and the egress policy is drop, or the buffer is full" while connected.
        var stdin = new QueueReader();
        using var connect = ConnectToListener.Start(stdin, "--egress-buffer", "4KiB", "--quiet");
        using var server = await connect.AcceptAsync(); // never reads
        await connect.Out.WaitJsonAsync(j => LineWriter.Is(j, "connected"), "connected");
        // 20 MB: more than the kernel's buffers take for a reader that does not read, so the egress buffer fills.
        var line = new string('y', 4000);
        for (var i = 0; i < 5000; i++)
            stdin.Send(line);
        var error = await connect.Out.WaitJsonAsync(j => LineWriter.Is(j, "error"), "the error line");
        Assert.Equal("stdin line dropped: the egress buffer is full (4096 bytes waiting for the server, which reads slower than lines come); "
            + "raise --egress-buffer or send more slowly", error.GetProperty("message").GetString());
        Assert.Equal(0, await connect.StopAsync());
    }
    [Fact]
    public async Task A_first_reconnect_wait_above_the_explicit_cap_is_refused_naming_both_flags()
    {
        // Before: accepted, and the cap the user gave was silently raised to the wait (retry_in_ms 10018); the command ran.
        var (code, stdout, stderr) = await CliRun.RunAsync("connect", "127.0.0.1:1", "--reconnect-wait", "10s", "--reconnect-max-wait", "1s")
            .WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Equal(2, code);
        Assert.Equal("ferry connect: --reconnect-wait 10s is longer than --reconnect-max-wait 1s; the first wait must not be above the cap: "
            + "lower --reconnect-wait or raise --reconnect-max-wait", Assert.Single(stderr));
        Assert.Empty(stdout);
    }

    [Theory]
    [InlineData("connect", "--reconnect-wait", "0")]
    [InlineData("connect", "--reconnect-max-wait", "0s")]
    [InlineData("connect", "--connect-timeout", "0")]
    [InlineData("connect", "--tls-handshake-timeout", "0ms")]
    [InlineData("serve", "--tls-handshake-timeout", "0")]
    public async Task A_zero_wait_or_timeout_is_refused_with_the_flag_and_the_value_as_written(string command, string flag, string value)
    {
        // Before: "options 'reconnect_wait'/'reconnect_max_wait': 00:00:00/00:00:30 are not allowed", TimeSpan text the user never wrote.
        string[] args = command == "connect" ? [command, "127.0.0.1:1", flag, value] : [command, flag, value];
        var (code, stdout, stderr) = await CliRun.RunAsync(args).WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Equal(2, code);
        Assert.Equal($"ferry {command}: {flag} '{value}' is not allowed; use a duration above 0, e.g. 500ms, 10s or 2m (at most 596h)", Assert.Single(stderr));
        Assert.Empty(stdout);
    }

    [Fact]
    public async Task A_stop_with_lines_held_for_a_server_that_never_came_says_what_it_dropped()
    {
        // Before: only {"type":"closed"}, the last stats said nothing was dropped, and stderr was empty.
        var stdin = new QueueReader();
        for (var i = 1; i <= 5; i++)
            stdin.Send($"held{i}");
        var stdout = new LineWriter();
        var stderr = new LineWriter();
        using var stop = new CancellationTokenSource();
        var run = Task.Run(() => FerryCommand.RunAsync(["connect", $"127.0.0.1:{FreePorts.One()}", "--framing", "lines", "--reconnect-wait", "10s"],
            stdin, stdout, stderr, stop.Token));
        await stdin.FirstWait.WaitAsync(TimeSpan.FromSeconds(30)); // the five lines are held

        stop.Cancel();
        Assert.Equal(0, await run.WaitAsync(TimeSpan.FromSeconds(30)));
        Assert.Equal("ferry connect: the stage: the stop dropped 25 bytes of queued egress (5 whole messages among them) that could not be "
            + "written within its --stop-grace-period (or before a second signal)", Assert.Single(stderr.Lines));
        var last = stdout.Json.Last(j => LineWriter.Is(j, "stats"));
        Assert.Equal(5, last.GetProperty("egress_dropped_packets").GetInt64());
    }
}
