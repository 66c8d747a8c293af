using System.Net;
using System.Net.Sockets;
using Ferry.Cli;
using Ferry.Tests.Support;

namespace Ferry.Tests.Cli;

/// <summary>A stage that cannot bind fails <c>ferry run</c> (exit 1, what started is stopped); <c>ferry check</c> refuses two stages on one address.</summary>
public sealed class RunBindTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("ferry-bind-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string Write(string text)
    {
        var path = Path.Combine(_dir, "f.yaml");
        File.WriteAllText(path, text);
        return path;
    }

    [Fact]
    public async Task A_taken_port_fails_the_run_with_exit_1_naming_stage_address_and_error_and_nothing_starts()
    {
        using var holder = FreePorts.Taken(out var taken);
        var free = FreePorts.One();
        var file = Write($$$"""
            stages:
              - {name: a, type: tcp_server, config: {bind: "127.0.0.1:{{{free}}}"}}
              - {name: b, type: tcp_server, config: {bind: "127.0.0.1:{{{taken}}}"}}
            """);

        await using var run = RunningCommand.Start(null, "run", file);
        var code = await run.Exit.WaitAsync(TimeSpan.FromSeconds(30)); // the old default retried the bind for ever
        Assert.Equal(1, code);
        var error = Assert.Single(run.Err.Lines, l => l.StartsWith("ferry run:", StringComparison.Ordinal));
        Assert.Contains("stage 'b'", error);
        Assert.Contains($"127.0.0.1:{taken}", error);
        Assert.Contains("in use", error);
        // Found before any stage starts (before: stage a listened, then was stopped again).
        Assert.DoesNotContain(run.Out.Json, j => LineWriter.Is(j, "listening"));
        Assert.EndsWith("; nothing had started", error);
        Assert.True(FreePorts.IsFree(free), "stage a was never bound");
    }

    [Theory]
    [InlineData("127.0.0.1:{0}", "127.0.0.1:{0}", "listens on 127.0.0.1:{0}, which stage 'a'")]
    [InlineData(":{0}", "127.0.0.1:{0}", "listens on 127.0.0.1:{0}, which stage 'a'")]
    [InlineData("127.0.0.1:{0}", "0.0.0.0:{0}", "listens on all interfaces, port {0}, which stage 'a'")]
    public async Task Check_refuses_two_stages_on_one_address_at_the_second(string first, string second, string expected)
    {
        var port = FreePorts.One();
        var file = Write($$$"""
            stages:
              - {name: a, type: tcp_server, config: {bind: "{{{string.Format(first, port)}}}"}}
              - name: b
                type: tcp_server
                config: {bind: "{{{string.Format(second, port)}}}"}
            """);
        var stdout = new LineWriter();
        var stderr = new LineWriter();
        Assert.Equal(2, await FerryCommand.RunAsync(["check", file], TextReader.Null, stdout, stderr, CancellationToken.None));
        var line = stderr.Lines.First();
        Assert.StartsWith($"{file}:5:14: stages[1].config.bind: '{string.Format(second, port)}' {string.Format(expected, port)} ({file}:2:", line);
        Assert.Contains(") already listens on", line);
    }

    [Fact]
    public async Task A_stage_with_a_mistake_elsewhere_is_still_checked_for_its_address_and_one_with_a_bad_address_is_not()
    {
        // Before: b's idle_timeout left b out of the clash check, so its clash with a came out only once that was fixed.
        var port = FreePorts.One();
        var file = Write($$$"""
            stages:
              - {name: a, type: tcp_server, config: {bind: "127.0.0.1:{{{port}}}"}}
              - {name: b, type: tcp_server, config: {bind: "127.0.0.1:{{{port}}}", idle_timeout: 5}}
              - {name: c, type: tcp_server, config: {bind: "127.0.0.1:{{{port}}}x"}}
            """);
        var stdout = new LineWriter();
        var stderr = new LineWriter();
        Assert.Equal(2, await FerryCommand.RunAsync(["check", file], TextReader.Null, stdout, stderr, CancellationToken.None));
        Assert.Collection(stderr.Lines,
            l => Assert.StartsWith($"{file}:3:42: stages[1].config.bind: '127.0.0.1:{port}' listens on 127.0.0.1:{port}, which stage 'a' ({file}:2:42) already listens on", l),
            l => Assert.StartsWith($"{file}:3:", l),
            l => Assert.StartsWith($"{file}:4:42: stages[2].config.bind: '127.0.0.1:{port}x' is not a valid address", l),
            l => Assert.Equal($"ferry check: {file}: 3 problems; nothing was started", l));
        Assert.Contains(stderr.Lines, l => l.Contains("stages[1].config.idle_timeout: '5' has no unit", StringComparison.Ordinal));
        Assert.DoesNotContain(stderr.Lines, l => l.Contains("stages[2]", StringComparison.Ordinal) && l.Contains("already listens on", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Check_refuses_a_bridge_server_whose_second_port_another_stage_listens_on()
    {
        var port = FreePorts.Pair();
        var file = Write($$$"""
            stages:
              - {name: a, type: tcp_server, config: {bind: "127.0.0.1:{{{port + 1}}}"}}
              - {name: br, type: bridge_server, config: {address: 127.0.0.1, port: {{{port}}}}}
            """);
        var stdout = new LineWriter();
        var stderr = new LineWriter();
        Assert.Equal(2, await FerryCommand.RunAsync(["check", file], TextReader.Null, stdout, stderr, CancellationToken.None));
        Assert.Contains($"listens on 127.0.0.1:{port + 1}, which stage 'a'", stderr.Lines.First());
    }
}
