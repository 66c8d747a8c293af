using System.Net;
using System.Net.Sockets;
using Ferry.Tests.Support;

namespace Ferry.Tests.Cli;

/// <summary>ferry run that cannot start prints totals only for the stages it began to start, and says when none had.</summary>
public sealed class RunStartFailureLinesTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("ferry-startfail-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public async Task A_taken_scrape_port_prints_no_stats_for_stages_that_never_started()
    {
        using var holder = FreePorts.Taken(out var taken);
        var file = Path.Combine(_dir, "f.yaml");
        File.WriteAllText(file, $$$"""
            stages:
              - {name: a, type: tcp_server, config: {bind: "127.0.0.1:0"}}
              - {name: c, type: tcp_client, config: {connect: "127.0.0.1:1"}}
            telemetry:
              prometheus: {listen: "127.0.0.1:{{{taken}}}"}
            """);

        await using var run = RunningCommand.Start(null, "run", file);
        Assert.Equal(1, await run.Exit.WaitAsync(TimeSpan.FromSeconds(30)));
        // Before: a zero "stats" line for a and for c, which never started, and "…; stopping what had started".
        Assert.DoesNotContain(run.Out.Json, j => LineWriter.Is(j, "stats"));
        Assert.Equal($"ferry run: could not start: telemetry.prometheus.listen 127.0.0.1:{taken}: the Prometheus endpoint cannot listen: Address already in use; nothing had started",
            Assert.Single(run.Err.Lines, l => l.StartsWith("ferry run:", StringComparison.Ordinal)));
    }

    [Fact]
    public async Task A_stage_that_cannot_bind_gets_its_totals_and_the_stages_after_it_none()
    {
        // A stage that retries its bind is not checked before the start (its address may come later), so 'a' starts first.
        using var holder = FreePorts.Taken(out var taken);
        var file = Path.Combine(_dir, "g.yaml");
        File.WriteAllText(file, $$$"""
            stages:
              - {name: a, type: tcp_server, config: {bind: "127.0.0.1:0"}}
              - {name: b, type: tcp_server, config: {bind: "127.0.0.1:{{{taken}}}", bind_attempts: 2, bind_retry_delay: 10ms}}
              - {name: c, type: tcp_client, config: {connect: "127.0.0.1:1"}}
            """);

        await using var run = RunningCommand.Start(null, "run", file);
        Assert.Equal(1, await run.Exit.WaitAsync(TimeSpan.FromSeconds(30)));
        var last = run.Out.Json.Where(j => LineWriter.Is(j, "stats")).Select(j => j.GetProperty("stage").GetString()).ToList();
        Assert.Equal(["a", "b"], last.Distinct());
        Assert.Contains(run.Err.Lines, l => l.StartsWith("ferry run: could not start: stage 'b'", StringComparison.Ordinal) && l.EndsWith("; stopping what had started", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Addresses_that_cannot_be_had_are_found_before_any_stage_starts_and_all_named()
    {
        // Before: 'a' listened (and took clients), then 'b' failed and 'a' was stopped again: a half-start, one stage at a time.
        var free = FreePorts.One();
        using var holderB = FreePorts.Taken(out var takenB);
        using var holderC = FreePorts.Taken(out var takenC);
        var file = Path.Combine(_dir, "h.yaml");
        File.WriteAllText(file, $$$"""
            stages:
              - {name: a, type: tcp_server, config: {bind: "127.0.0.1:{{{free}}}"}}
              - {name: b, type: tcp_server, config: {bind: "127.0.0.1:{{{takenB}}}"}}
              - {name: c, type: tcp_server, config: {bind: "127.0.0.1:{{{takenC}}}"}}
            """);

        await using var run = RunningCommand.Start(null, "run", file);
        Assert.Equal(1, await run.Exit.WaitAsync(TimeSpan.FromSeconds(30)));
        Assert.DoesNotContain(run.Out.Json, j => LineWriter.Is(j, "listening"));
        Assert.DoesNotContain(run.Out.Json, j => LineWriter.Is(j, "stats"));
        Assert.Equal(["b", "c"], run.Out.Json.Where(j => LineWriter.Is(j, "error")).Select(j => j.GetProperty("stage").GetString()));
        Assert.Equal($"ferry run: could not start: stage 'b' cannot listen on 127.0.0.1:{takenB}: AddressAlreadyInUse: Address already in use (another process listens on that port); "
            + $"stage 'c' cannot listen on 127.0.0.1:{takenC}: AddressAlreadyInUse: Address already in use (another process listens on that port); nothing had started",
            Assert.Single(run.Err.Lines, l => l.StartsWith("ferry run:", StringComparison.Ordinal)));
        Assert.True(FreePorts.IsFree(free), "'a' was never bound");
    }

    [Fact]
    public async Task A_stage_whose_nats_gateway_cannot_start_never_ran_and_gets_no_totals()
    {
        // Before: a zero "stats" line for 'a', which had no "closed" line (it never started: its gateway failed first).
        var nobody = FreePorts.One();
        var file = Path.Combine(_dir, "n.yaml");
        File.WriteAllText(file, $$$"""
            stages:
              - {name: a, type: tcp_server, config: {bind: "127.0.0.1:0"}}
            bus: {type: nats, url: "nats://127.0.0.1:{{{nobody}}}"}
            """);

        await using var run = RunningCommand.Start(null, "run", file);
        Assert.Equal(1, await run.Exit.WaitAsync(TimeSpan.FromSeconds(60)));
        Assert.DoesNotContain(run.Out.Json, j => LineWriter.Is(j, "stats") || LineWriter.Is(j, "closed") || LineWriter.Is(j, "listening"));
        Assert.Contains(run.Err.Lines, l => l.StartsWith("ferry run: could not start: ", StringComparison.Ordinal) && l.Contains($"127.0.0.1:{nobody}", StringComparison.Ordinal));
    }
}
