using System.Text.Json;
using Ferry.Tests.Support;

namespace Ferry.Tests.Cli;

/// <summary>
/// Under <c>--log-format json</c> every line on stderr is a JSON object, the command's own too: fatal lines, a file's
/// problems and refused arguments were plain text among the JSON log entries. And <c>ferry run</c> says a fatal fault once,
/// on stderr: it used to copy it to stdout as an error line as well.
/// </summary>
public sealed class JsonStderrTests : IDisposable
{
    private readonly ScratchFiles _files = new("ferry-json-stderr-");

    public void Dispose() => _files.Dispose();

    /// <summary>Each line's Message, after checking that every line is one JSON object shaped as the log entries.</summary>
    private static List<string> Messages(IEnumerable<string> lines)
    {
        var messages = new List<string>();
        foreach (var line in lines)
        {
            using var json = JsonDocument.Parse(line); // throws on a plain line
            var entry = json.RootElement;
            Assert.Equal(JsonValueKind.Object, entry.ValueKind);
            Assert.True(entry.TryGetProperty("LogLevel", out _), line);
            Assert.True(entry.TryGetProperty("Timestamp", out _), line);
            messages.Add(entry.GetProperty("Message").GetString()!);
        }
        return messages;
    }

    [Fact]
    public async Task Run_whose_port_is_taken_writes_only_json_on_stderr_and_its_fatal_line_once()
    {
        using var holder = FreePorts.Taken(out var taken);
        var file = _files.Write("taken.yaml", $$$"""
            stages:
              - {name: b, type: tcp_server, config: {bind: "127.0.0.1:{{{taken}}}"}}
            """);
        await using var run = RunningCommand.Start(null, "run", file, "--log-format", "json");
        Assert.Equal(1, await run.Exit.WaitAsync(TimeSpan.FromSeconds(30)));
        var messages = Messages(run.Err.Lines);
        Assert.Single(messages, m => m.StartsWith("ferry run: could not start: stage 'b' cannot listen on", StringComparison.Ordinal));
        Assert.DoesNotContain(run.Out.Lines, l => l.Contains("ferry run:", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_file_with_problems_lists_them_as_json_lines()
    {
        var file = _files.Write("bad.yaml", """
            stages:
              - {name: front, type: tcp_server, config: {bind: nowhere}}
            """);
        var (code, stdout, stderr) = await CliRun.RunAsync("run", file, "--log-format", "json");
        Assert.Equal(2, code);
        Assert.Empty(stdout);
        Assert.Equal(
        [
            $"{file}:2:46: stages[0].config.bind: 'nowhere' is not a valid address (no port); use host:port, :port or [ipv6]:port",
            $"ferry run: {file}: 1 problem; nothing was started",
        ], Messages(stderr));
    }

    [Fact]
    public async Task Serve_refusing_its_flags_says_so_in_json()
    {
        var (code, _, stderr) = await CliRun.RunAsync("serve", "--log-format", "json", "--tls-cert", "/nope.pem", "--tls-key", "/nope.key");
        Assert.Equal(2, code);
        Assert.StartsWith("ferry serve: --tls-cert '/nope.pem' cannot be read", Assert.Single(Messages(stderr)));

        (code, _, stderr) = await CliRun.RunAsync("serve", "--log-format", "json", "--bogus");
        Assert.Equal(2, code);
        Assert.StartsWith("ferry serve: unknown option '--bogus'", Assert.Single(Messages(stderr)));
    }

    [Fact]
    public async Task Plain_stays_plain()
    {
        var (code, _, stderr) = await CliRun.RunAsync("serve", "--tls-cert", "/nope.pem", "--tls-key", "/nope.key");
        Assert.Equal(2, code);
        Assert.StartsWith("ferry serve: --tls-cert '/nope.pem' cannot be read", Assert.Single(stderr));
    }
}
