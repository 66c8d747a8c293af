using Ferry.Tests.Support;

namespace Ferry.Tests.Cli;

/// <summary>
/// A client stage that uses up its <c>reconnect_attempts</c> ends <c>ferry run</c> with exit code 1 and says why, and
/// the other stages are stopped: a supervisor (systemd's <c>Restart=on-failure</c>) sees the broken pipeline.
/// </summary>
public sealed class RunClientGiveUpTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("ferry-giveup-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public async Task A_client_stage_that_gives_up_stops_the_run_with_exit_1_naming_stage_and_upstream()
    {
        var front = FreePorts.One();
        var nobody = FreePorts.One(); // nothing listens: every attempt is refused at once
        var file = Path.Combine(_dir, "proxy.yaml");
        File.WriteAllText(file, $$$"""
            stages:
              - {name: front, type: tcp_server, config: {bind: "127.0.0.1:{{{front}}}"}}
              - {name: upstream, type: tcp_client, config: {host: 127.0.0.1, port: {{{nobody}}}, reconnect_wait: 10ms, reconnect_max_wait: 20ms, reconnect_attempts: 3}}
            routes:
              - {from: front, to: upstream}
            """);

        await using var run = RunningCommand.Start(null, "run", file);
        var code = await run.Exit.WaitAsync(TimeSpan.FromSeconds(30)); // before, the run went on for ever
        Assert.Equal(1, code);
        var error = Assert.Single(run.Err.Lines, l => l.StartsWith("ferry run:", StringComparison.Ordinal));
        Assert.Contains("stage 'upstream' gave up connecting to 127.0.0.1:" + nobody, error);
        Assert.Contains("after 3 attempts (reconnect_attempts)", error);
        Assert.True(FreePorts.IsFree(front), "the server stage was stopped too");
        // Said once: before, the stage's own log entry ("fail: …[1006] upstream: Setup error: giving up on …") said it again.
        Assert.DoesNotContain(run.Err.Lines, l => l.Contains("giving up on", StringComparison.Ordinal));
    }
}
