using Ferry.Cli;
using Ferry.Tests.Support;

namespace Ferry.Tests.Cli;

/// <summary>
/// A command line with several mistakes is refused with all of them in its one line, and a bad flag beside a pipeline
/// file does not hide the file's own problems: one try tells the user everything to fix.
/// </summary>
public sealed class AllCommandLineProblemsTests : IDisposable
{
    private readonly ScratchFiles _files = new("ferry-cli-all-");

    public void Dispose() => _files.Dispose();

    private static async Task<(int Code, LineWriter Out, LineWriter Err)> RunAsync(params string[] args)
    {
        var stdout = new LineWriter();
        var stderr = new LineWriter();
        // A deadline, so a command line that is wrongly accepted fails the test (a server that starts) instead of hanging it.
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        var code = await FerryCommand.RunAsync(args, TextReader.Null, stdout, stderr, new Dictionary<string, string>(), deadline.Token);
        return (code, stdout, stderr);
    }

    [Fact]
    public async Task Every_bad_flag_value_is_told_in_one_line()
    {
        var (code, stdout, stderr) = await RunAsync("serve", "--max-connections", "-3", "--framing", "morse", "--idle-timeout", "soon");
        Assert.Equal(2, code);
        Assert.Empty(stdout.Lines);
        var line = Assert.Single(stderr.Lines);
        Assert.StartsWith("ferry serve: ", line);
        Assert.Contains("--max-connections '-3' is not allowed", line);
        Assert.Contains("--framing: unknown framing 'morse'", line);
        Assert.Contains("--idle-timeout 'soon' is not a duration", line);
    }

    [Fact]
    public async Task Unknown_options_and_bad_values_are_told_together_with_the_help_pointer_once()
    {
        var (code, _, stderr) = await RunAsync("serve", "--frobnicate", "--max-connections", "x");
        Assert.Equal(2, code);
        Assert.Equal("ferry serve: unknown option '--frobnicate'; --max-connections 'x' is not allowed; use a whole number from 0 to 2147483647 "
            + "(see ferry serve --help)", Assert.Single(stderr.Lines));
    }

    [Fact]
    public async Task The_value_after_an_unknown_option_is_not_told_as_an_unexpected_argument()
    {
        var (code, _, stderr) = await RunAsync("serve", "--frob", "3");
        Assert.Equal(2, code);
        Assert.Equal("ferry serve: unknown option '--frob' (see ferry serve --help)", Assert.Single(stderr.Lines));
    }

    [Fact]
    public async Task Every_missing_argument_is_named()
    {
        var (code, _, stderr) = await RunAsync("bridge");
        Assert.Equal(2, code);
        Assert.Equal("ferry bridge: needs ROLE, ADDR and PORT", Assert.Single(stderr.Lines));
    }

    [Theory]
    [InlineData("run", "--log-level", "verbose", "--log-level 'verbose' is not allowed")]
    [InlineData("run", "--bogus", null, "unknown option '--bogus'")]
    [InlineData("check", "--sett", "x=1", "unknown option '--sett' (did you mean '--set'?)")]
    public async Task A_bad_flag_beside_a_pipeline_file_does_not_hide_the_files_problems(string command, string flag, string? value, string expected)
    {
        var file = _files.Write("bad.yaml", """
            stages:
              - name: front
                type: tcp_server
                config:
                  bind: 127.0.0.1:0
                  idle_timeout: soon
            """);
        string[] args = value is null ? [command, file, flag] : [command, file, flag, value];
        var (code, stdout, stderr) = await RunAsync(args);
        Assert.Equal(2, code);
        Assert.Empty(stdout.Lines);
        Assert.Equal(3, stderr.Lines.Count);
        Assert.StartsWith($"ferry {command}: ", stderr.Lines.ElementAt(0));
        Assert.Contains(expected, stderr.Lines.ElementAt(0));
        Assert.StartsWith($"{file}:6:", stderr.Lines.ElementAt(1));
        Assert.Contains("idle_timeout", stderr.Lines.ElementAt(1));
        Assert.Contains("soon", stderr.Lines.ElementAt(1));
        Assert.Equal($"ferry {command}: {file}: 1 problem; nothing was started", stderr.Lines.ElementAt(2));
    }

    [Fact]
    public async Task A_bad_flag_beside_a_valid_file_is_the_only_line_and_nothing_starts()
    {
        var file = _files.Write("good.yaml", """
            stages:
              - name: front
                type: tcp_server
                config:
                  bind: 127.0.0.1:0
            """);
        var (code, stdout, stderr) = await RunAsync("run", file, "--log-level", "verbose");
        Assert.Equal(2, code);
        Assert.Empty(stdout.Lines);
        Assert.Equal("ferry run: --log-level 'verbose' is not allowed; use trace, debug, information, info, warning, error, critical or none",
            Assert.Single(stderr.Lines));
    }

    [Fact]
    public async Task The_set_overrides_are_checked_with_the_file_beside_a_bad_flag()
    {
        var file = _files.Write("good.yaml", """
            stages:
              - name: front
                type: tcp_server
                config:
                  bind: 127.0.0.1:0
            """);
        var (code, _, stderr) = await RunAsync("check", file, "--set", "stages.front.config.max_connections=-1", "--bogus");
        Assert.Equal(2, code);
        Assert.Contains("unknown option '--bogus'", stderr.Lines.ElementAt(0));
        Assert.Contains(stderr.Lines, l => l.Contains("max_connections", StringComparison.Ordinal) && l.Contains("-1", StringComparison.Ordinal));
        Assert.Equal($"ferry check: {file}: 1 problem; nothing was started", stderr.Lines.Last());
    }
    [Fact]
    public async Task A_bad_value_does_not_hide_what_the_flags_together_are_refused_for()
    {
        // --bind and the TLS pair are checked after parsing, when the stage's options are built; a bad --max-connections
        // used to stop the command before that, and each came out on its own next try.
        var (code, stdout, stderr) = await RunAsync("serve", "--bind", "127.0.0.1:99999", "--max-connections", "-3", "--tls-key", "/nonexistent/key.pem");
        Assert.Equal(2, code);
        Assert.Empty(stdout.Lines);
        var line = Assert.Single(stderr.Lines);
        Assert.StartsWith("ferry serve: --max-connections '-3' is not allowed", line);
        Assert.Contains("--bind '127.0.0.1:99999' is not a valid address", line);
        Assert.Contains("--tls-key needs --tls-cert", line);
        Assert.Contains("--tls-key '/nonexistent/key.pem' cannot be read: no such directory '/nonexistent'", line);
    }

    [Fact]
    public async Task Without_parse_errors_the_flags_problems_are_still_all_told()
    {
        var (code, _, stderr) = await RunAsync("serve", "--bind", "127.0.0.1:99999", "--tls-key", "/nonexistent/key.pem");
        Assert.Equal(2, code);
        var line = Assert.Single(stderr.Lines);
        Assert.Contains("--bind '127.0.0.1:99999' is not a valid address", line);
        Assert.Contains("--tls-key needs --tls-cert", line);
    }

    [Fact]
    public async Task A_problem_that_names_a_refused_flag_is_left_out()
    {
        // With --proxy-protocol refused it counts as not given, and "--trusted-proxy … need --proxy-protocol" would be said
        // to a user who gave one.
        var (code, _, stderr) = await RunAsync("serve", "--proxy-protocol", "bogus", "--trusted-proxy", "10.0.0.1");
        Assert.Equal(2, code);
        Assert.Equal("ferry serve: --proxy-protocol 'bogus' is not allowed; use off, v1, v2 or any", Assert.Single(stderr.Lines));
    }

    [Fact]
    public async Task Connect_tells_a_bad_value_with_its_flags_and_address_problems()
    {
        var (code, _, stderr) = await RunAsync("connect", "127.0.0.1:0", "--idle-timeout", "zz", "--reconnect-wait", "5s", "--reconnect-max-wait", "1s");
        Assert.Equal(2, code);
        var line = Assert.Single(stderr.Lines);
        Assert.StartsWith("ferry connect: --idle-timeout 'zz' is not a duration", line);
        Assert.Contains("--reconnect-wait 5s is longer than --reconnect-max-wait 1s", line);
        Assert.Contains("HOST:PORT '127.0.0.1:0' is not a remote address", line);
    }
}
