using System.Net;
using System.Net.Sockets;
using Ferry.Cli;
using Ferry.Tests.Support;

namespace Ferry.Tests.Cli;

/// <summary>The System.CommandLine front end: help everywhere, suggestions, strict durations, --bind-attempts.</summary>
public sealed class CliParserTests
{
    private static async Task<(int Code, LineWriter Out, LineWriter Err)> RunAsync(params string[] args)
    {
        var stdout = new LineWriter();
        var stderr = new LineWriter();
        // A deadline, so a value that is wrongly accepted fails the test (a server that starts) instead of hanging it.
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        var code = await FerryCommand.RunAsync(args, TextReader.Null, stdout, stderr, deadline.Token);
        return (code, stdout, stderr);
    }

    [Theory]
    [InlineData("--idle-timeout", "NaN", "is not a duration")]
    [InlineData("--idle-timeout", "1e15", "has no unit: write 1e15s or 1e15ms")]
    [InlineData("--idle-timeout", "1e300s", "is too long")]
    [InlineData("--idle-timeout", "Infinity", "is not a duration")]
    [InlineData("--idle-timeout", "-1s", "negative")]
    [InlineData("--group-linger", "NaN", "is not a duration")]
    [InlineData("--group-linger", "1e300h", "is too long")]
    [InlineData("--idle-timeout", "0.5ms", "is below 1ms")]
    [InlineData("--group-linger", "0.0001s", "is below 1ms")]
    [InlineData("--group-linger", "5", "has no unit: write 5s or 5ms")]
    [InlineData("--idle-timeout", "30", "has no unit: write 30s or 30ms")]
    public async Task Bad_durations_exit_2_with_one_line_naming_flag_and_value(string flag, string value, string expected)
    {
        var (code, stdout, stderr) = await RunAsync("serve", flag, value);
        Assert.Equal(2, code);
        var line = Assert.Single(stderr.Lines);
        Assert.Contains($"{flag} '{value}'", line);
        Assert.Contains(expected, line);
        Assert.Empty(stdout.Lines);
    }

    [Theory]
    [InlineData("serve", "--group-linger")]
    [InlineData("connect", "--reconnect-wait")]
    public async Task A_duration_flag_without_a_unit_says_which_units_to_write(string command, string flag)
    {
        string[] args = command == "connect" ? ["connect", "127.0.0.1:9", flag, "5"] : [command, flag, "5"];
        var (code, stdout, stderr) = await RunAsync(args);
        Assert.Equal(2, code);
        Assert.Empty(stdout.Lines);
        Assert.Equal($"ferry {command}: {flag} '5' has no unit: write 5s or 5ms", Assert.Single(stderr.Lines));
    }

    [Fact]
    public async Task Durations_of_zero_and_one_millisecond_are_accepted()
    {
        Assert.Equal(TimeSpan.Zero, CliArguments.ParseDuration("0"));
        Assert.Equal(TimeSpan.FromMilliseconds(1), CliArguments.ParseDuration("1ms"));
        Assert.Equal(TimeSpan.FromMilliseconds(int.MaxValue), CliArguments.ParseDuration("2147483647ms"));
        Assert.Null(CliArguments.ParseDuration("2147483648ms"));
        Assert.Null(CliArguments.ParseDuration("0.5ms"));
        Assert.Null(CliArguments.ParseDuration("5"));
        // and the connect command refuses the same values
        var (code, _, stderr) = await RunAsync("connect", "127.0.0.1:9", "--reconnect-wait", "1e300s");
        Assert.Equal(2, code);
        Assert.Contains("--reconnect-wait '1e300s' is too long", Assert.Single(stderr.Lines));
    }

    [Theory]
    [InlineData("serve")]
    [InlineData("connect")]
    [InlineData("bridge")]
    [InlineData("run")]
    [InlineData("check")]
    [InlineData("cert")]
    public async Task Every_command_has_help(string command)
    {
        var (code, stdout, stderr) = await RunAsync(command, "--help");
        Assert.Equal(0, code);
        var lines = stdout.Lines.ToList();
        var usage = lines.IndexOf("Usage:");
        Assert.True(usage >= 0, "no Usage: heading");
        // Called what the user types, not after the running file (Ferry.Cli before).
        Assert.StartsWith($"  ferry {command} ", lines[usage + 1]);
        Assert.Empty(stderr.Lines);
    }

    [Fact]
    public async Task Help_shows_which_arguments_are_required()
    {
        Assert.Equal("  ferry [command] [options]", (await RunAsync("--help")).Out.Lines.ElementAt(4));
        // The bridge's ROLE was shown as optional ([<ROLE> <ADDR> <PORT>]): a bool argument's default arity.
        Assert.Contains("  ferry bridge <ROLE> <ADDR> <PORT> [options]", (await RunAsync("bridge", "--help")).Out.Lines);
        Assert.Contains("  ferry run <FILE> [options]", (await RunAsync("run", "--help")).Out.Lines);
    }

    [Theory]
    [InlineData("Usage:\n  Ferry.Cli serve [options]\n", "Ferry.Cli", "Usage:\n  ferry serve [options]\n")]
    [InlineData("Ferry.Cli: a tool\nUsage:\n  Ferry.Cli [command]\n", "Ferry.Cli", "Ferry.Cli: a tool\nUsage:\n  ferry [command]\n")]
    [InlineData("Usage:\n  ferry run\n", "ferry", "Usage:\n  ferry run\n")]
    [InlineData("no heading Ferry.Cli\n", "Ferry.Cli", "no heading Ferry.Cli\n")]
    public void The_usage_line_names_the_command_ferry(string help, string executable, string expected)
        => Assert.Equal(expected, FerryCommand.NameInUsage(help, executable));

    [Theory]
    [InlineData(new[] { "serv" }, "did you mean 'serve'?")]
    [InlineData(new[] { "serve", "--idle-timout", "1s" }, "did you mean '--idle-timeout'?")]
    [InlineData(new[] { "serve", "--egress-overflow", "dorp" }, "did you mean 'drop'?")]
    [InlineData(new[] { "bridge", "sever", "127.0.0.1", "9000" }, "did you mean 'server'?")]
    public async Task Mistyped_names_get_a_suggestion(string[] args, string expected)
    {
        var (code, _, stderr) = await RunAsync(args);
        Assert.Equal(2, code);
        Assert.Contains(expected, Assert.Single(stderr.Lines));
    }

    [Fact]
    public async Task Bind_attempts_give_up_on_a_taken_port_with_exit_code_1()
    {
        using var taken = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        taken.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        taken.Listen();
        var port = ((IPEndPoint)taken.LocalEndPoint!).Port;
        var run = RunAsync("serve", "--bind", $"127.0.0.1:{port}", "--bind-attempts", "2");
        var (code, stdout, _) = await run.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Equal(1, code);
        Assert.DoesNotContain(stdout.Json, j => LineWriter.Is(j, "listening"));
    }

    [Fact]
    public async Task A_half_close_linger_past_an_hour_is_refused_with_the_range()
    {
        var (code, _, stderr) = await RunAsync("serve", "--half-close-linger", "2h");
        Assert.Equal(2, code);
        Assert.Equal("ferry serve: --half-close-linger '2h' is not allowed; must be 0 (close once what is queued is written) or from 1ms to 1h",
            Assert.Single(stderr.Lines));
    }

    [Fact]
    public async Task Bind_attempts_must_be_a_whole_number()
    {
        var (code, _, stderr) = await RunAsync("serve", "--bind-attempts", "-1");
        Assert.Equal(2, code);
        Assert.Contains("--bind-attempts '-1' is not allowed; use a whole number from 0", Assert.Single(stderr.Lines));
    }
}
