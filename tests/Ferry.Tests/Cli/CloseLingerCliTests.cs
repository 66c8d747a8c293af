using System.Net;
using System.Net.Sockets;
using Ferry.Cli;
using Ferry.Cli.Pipeline;
using Ferry.Hosting.Settings;
using Ferry.Tests.Support;

namespace Ferry.Tests.Cli;

/// <summary><c>close_linger</c> in run files and <c>ferry serve --close-linger</c>, and the lingering count in the stats line.</summary>
public sealed class CloseLingerCliTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("ferry-close-linger-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private (PipelineDefinition? Pipeline, List<string> Err) Load(string yaml)
    {
        var file = Path.Combine(_dir, "f.yaml");
        File.WriteAllText(file, yaml);
        return PipelineFileCheck.Load(file, "f.yaml");
    }

    [Fact]
    public void The_key_reaches_the_server_and_client_options_and_defaults_to_2s()
    {
        var (pipeline, err) = Load("""
            stages:
              - {name: a, type: tcp_server, config: {bind: 127.0.0.1:0, close_linger: 500ms}}
              - {name: b, type: tcp_server, config: {bind: 127.0.0.1:0, close_linger: 0}}
              - {name: c, type: tcp_server, config: {bind: 127.0.0.1:0}}
              - {name: d, type: tcp_client, config: {connect: 127.0.0.1:1, close_linger: 3s}}
              - {name: e, type: tcp_client, config: {connect: 127.0.0.1:1}}
            """);
        Assert.Empty(err);
        Assert.Equal(TimeSpan.FromMilliseconds(500), Assert.IsType<ServerStageDeclaration>(pipeline!.Stages[0]).Options.CloseLinger);
        Assert.Equal(TimeSpan.Zero, Assert.IsType<ServerStageDeclaration>(pipeline.Stages[1]).Options.CloseLinger);
        Assert.Equal(TimeSpan.FromSeconds(2), Assert.IsType<ServerStageDeclaration>(pipeline.Stages[2]).Options.CloseLinger);
        Assert.Equal(TimeSpan.FromSeconds(3), Assert.IsType<ClientStageDeclaration>(pipeline.Stages[3]).Options.CloseLinger);
        Assert.Equal(TimeSpan.FromSeconds(2), Assert.IsType<ClientStageDeclaration>(pipeline.Stages[4]).Options.CloseLinger);
    }

    [Fact]
    public void Bad_values_are_named_at_their_key_with_what_is_allowed()
    {
        var (pipeline, err) = Load("""
            stages:
              - {name: a, type: tcp_server, config: {bind: 127.0.0.1:0, close_linger: soon}}
              - {name: b, type: tcp_server, config: {bind: 127.0.0.1:0, close_linger: 10m}}
            """);
        Assert.Null(pipeline);
        Assert.Contains(err, l => l.Contains("stages[0].config.close_linger: 'soon' is not a duration", StringComparison.Ordinal));
        Assert.Contains(err, l => l.Contains("stages[1].config.close_linger", StringComparison.Ordinal)
            && l.Contains("'10m' is not allowed; must be 0 (close at once: a reset when the peer's bytes are unread) or from 1ms to 5m", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Serve_refuses_a_close_linger_past_5_minutes_with_the_range()
    {
        var (code, _, err) = await CliRun.RunAsync(["serve", "--close-linger", "10m"]);
        Assert.Equal(2, code);
        Assert.Equal("ferry serve: --close-linger '10m' is not allowed; must be 0 (close at once: a reset when the peer's bytes are unread) or from 1ms to 5m",
            Assert.Single(err));
    }

    [Fact]
    public async Task Connect_refuses_a_close_linger_past_5_minutes_with_the_range()
    {
        var (code, _, err) = await CliRun.RunAsync(["connect", "127.0.0.1:9", "--close-linger", "10m"]);
        Assert.Equal(2, code);
        Assert.Equal("ferry connect: --close-linger '10m' is not allowed; must be 0 (close at once: a reset when the peer's bytes are unread) or from 1ms to 5m",
            Assert.Single(err));
    }

    [Theory]
    [InlineData("1m", 1)]
    [InlineData("0", 0)]
    public async Task Connect_takes_the_flag_and_its_stats_line_counts_the_lingering_connection(string linger, int lingering)
    {
        // A server that accepts and then neither reads nor closes.
        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen(8);
        var accepted = new List<Socket>();
        var accepting = Task.Run(async () =>
        {
            try
            {
                while (true)
                    accepted.Add(await listener.AcceptAsync());
            }
            catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
            {
            }
        });
        var stdout = new LineWriter();
        using var stop = new CancellationTokenSource();
        var exit = Task.Run(() => FerryCommand.RunAsync(["connect", listener.LocalEndPoint!.ToString()!, "--framing", "lines", "--idle-timeout", "100ms",
            "--reconnect-wait", "1m", "--close-linger", linger], TextReader.Null, stdout, new LineWriter(), stop.Token));
        try
        {
            // Closed for idleness (then a minute before it dials again); the server neither reads nor closes: it lingers, or not.
            await stdout.WaitJsonAsync(j => LineWriter.Is(j, "disconnected") && j.GetProperty("reason").GetString() == "idle_timeout", "the idle timeout");
            var stats = await stdout.WaitJsonAsync(j => LineWriter.Is(j, "stats") && j.GetProperty("closed").GetInt64() == 1, "a stats line after the close");
            Assert.Equal(lingering, stats.GetProperty("lingering").GetInt32());
        }
        finally
        {
            stop.Cancel();
            Assert.Equal(0, await exit.WaitAsync(TimeSpan.FromSeconds(15)));
            listener.Dispose();
            await accepting;
            foreach (var s in accepted)
                s.Dispose();
        }
    }

    [Theory]
    [InlineData("1m", 1)]
    [InlineData("0", 0)]
    public async Task Serve_takes_the_flag_and_its_stats_line_counts_the_lingering_connections(string linger, int lingering)
    {
        var stdout = new LineWriter();
        using var stop = new CancellationTokenSource();
        var exit = Task.Run(() => FerryCommand.RunAsync(["serve", "--bind", "127.0.0.1:0", "--framing", "lines", "--idle-timeout", "100ms",
            "--close-linger", linger], TextReader.Null, stdout, new LineWriter(), stop.Token));
        try
        {
            var listening = await stdout.WaitJsonAsync(j => LineWriter.Is(j, "listening"), "listening line");
            using var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            await client.ConnectAsync(IPEndPoint.Parse(listening.GetProperty("local").GetString()!));
            await client.SendAsync("hello\n"u8.ToArray());
            // Closed for idleness; the client neither reads nor closes: it lingers a minute, or not at all.
            await stdout.WaitJsonAsync(j => LineWriter.Is(j, "disconnected") && j.GetProperty("reason").GetString() == "idle_timeout", "the idle timeout");
            var stats = await stdout.WaitJsonAsync(j => LineWriter.Is(j, "stats") && j.GetProperty("closed").GetInt64() == 1, "a stats line after the close");
            Assert.Equal(lingering, stats.GetProperty("lingering").GetInt32());
            Assert.Equal(0, stats.GetProperty("lingering_resets").GetInt64());
        }
        finally
        {
            stop.Cancel();
            Assert.Equal(0, await exit.WaitAsync(TimeSpan.FromSeconds(15)));
        }
    }
}
