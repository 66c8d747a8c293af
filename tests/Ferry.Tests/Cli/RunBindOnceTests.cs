using System.Net;
using System.Net.Sockets;
using Ferry.Tests.Support;

namespace Ferry.Tests.Cli;

/// <summary>A stage that cannot bind is reported once on stdout (its own error line) and once on stderr (run's line), exit 1.</summary>
public sealed class RunBindOnceTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("ferry-bind-once-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Theory]
    [InlineData("plain")]
    [InlineData("json")]
    public async Task A_taken_port_is_one_error_line_on_stdout_and_one_line_on_stderr(string logFormat)
    {
        using var holder = FreePorts.Taken(out var taken);
        var file = Path.Combine(_dir, "f.yaml");
        File.WriteAllText(file, $$$"""
            stages:
              - {name: a, type: tcp_server, config: {bind: "127.0.0.1:0"}}
              - {name: b, type: tcp_server, config: {bind: "127.0.0.1:{{{taken}}}"}}
            """);

        await using var run = RunningCommand.Start(null, "run", file, "--log-format", logFormat);
        Assert.Equal(1, await run.Exit.WaitAsync(TimeSpan.FromSeconds(30)));

        // stdout: the stage's own line, machine-readable (stage, kind, message), and no second line of run's.
        var error = Assert.Single(run.Out.Json, j => LineWriter.Is(j, "error"));
        Assert.Equal("b", error.GetProperty("stage").GetString());
        Assert.Equal("bind", error.GetProperty("kind").GetString());
        Assert.Contains($"cannot listen on 127.0.0.1:{taken}", error.GetProperty("message").GetString());

        // stderr: run's line (the stage, the address, what run does next), and no log entry saying it too; under
        // --log-format json that line is JSON as well (JsonStderrTests).
        var line = Assert.Single(run.Err.Lines, l => l.Contains($"127.0.0.1:{taken}", StringComparison.Ordinal));
        if (logFormat == "json")
            line = System.Text.Json.JsonDocument.Parse(line).RootElement.GetProperty("Message").GetString()!;
        Assert.StartsWith("ferry run: could not start: stage 'b' cannot listen on", line);
        // Found before any stage started (BindPreflight): 'a' never served.
        Assert.EndsWith("; nothing had started", line);
    }

    [Fact]
    public async Task A_bridge_server_whose_port_is_taken_is_one_line_on_stderr()
    {
        var first = FreePorts.Pair();
        using var holder = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        holder.Bind(new IPEndPoint(IPAddress.Loopback, first + 1));
        holder.Listen();
        var file = Path.Combine(_dir, "b.yaml");
        File.WriteAllText(file, $$$"""
            stages:
              - {name: rogue, type: bridge_server, config: {address: 127.0.0.1, port: {{{first}}}}}
            """);

        await using var run = RunningCommand.Start(null, "run", file);
        Assert.Equal(1, await run.Exit.WaitAsync(TimeSpan.FromSeconds(30)));
        // Said once, on stderr: run's copy of it on stdout is gone.
        Assert.DoesNotContain(run.Out.Json, j => LineWriter.Is(j, "error"));
        // Before: also the inner PUSH stage's log entry "PUSH: Bind error: cannot listen on ...".
        var line = Assert.Single(run.Err.Lines, l => l.Contains($"127.0.0.1:{first + 1}", StringComparison.Ordinal));
        Assert.StartsWith("ferry run: could not start: stage 'rogue'", line);
    }
}
