using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using Ferry.Tests.Support;

namespace Ferry.Tests.Cli;

/// <summary>SIGTERM stops every stage of <c>ferry run</c> at once; a second SIGTERM cuts the grace period short.</summary>
[Trait("Category", "BlackBox")]
public sealed class RunSignalTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("ferry-runsig-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public async Task Sigterm_stops_accepting_on_every_stage_at_once_and_a_second_sigterm_forces_the_stop()
    {
        // 'b' (declared last, so stopped first by the old reverse-order stop) holds egress its client never
        // reads, with a grace period far longer than the test's deadlines.
        var file = Path.Combine(_dir, "two.yaml");
        File.WriteAllText(file, """
            stages:
              - {name: a, type: tcp_server, config: {bind: "127.0.0.1:0", framing: lines, stop_grace_period: 5m, stats_interval: 100ms}}
              - {name: b, type: tcp_server, config: {bind: "127.0.0.1:0", framing: lines, stop_grace_period: 5m, egress_buffer: 64MiB}}
            routes:
              - {from: a, to: b, target: all}
            """);
        using var process = Process.Start(CliBinary.StartInfo("run", file, "--quiet"))!;
        try
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
            var run = new RunOutput(process, timeout.Token);
            var filled = await run.FillBWithEgressItsClientDoesNotReadAsync(16 * 1024);
            using var reader = filled.Reader;
            using var writer = filled.Writer;
            var a = filled.A;

            using (var kill = Process.Start("kill", ["-TERM", process.Id.ToString()]))
                await kill!.WaitForExitAsync(timeout.Token);
            // 'a' stops accepting now, while 'b' drains (the old stop left 'a' accepting for b's whole grace period).
            await Poll.UntilAsync(() => !Listener.Accepts(a), "a refuses new connections after SIGTERM", TimeSpan.FromSeconds(20));
            Assert.False(process.HasExited, "b is still draining its grace period");

            using (var kill = Process.Start("kill", ["-TERM", process.Id.ToString()]))
                await kill!.WaitForExitAsync(timeout.Token);
            await process.WaitForExitAsync(timeout.Token); // the second signal cuts the 5-minute grace short
            Assert.Equal(0, process.ExitCode);
        }
        finally
        {
            if (!process.HasExited)
                process.Kill();
        }
    }

    [Fact]
    public async Task A_stop_whose_grace_runs_out_says_what_it_dropped_in_a_last_stats_line_and_on_stderr()
    {
        // 'b' holds 4 MiB of egress its client never reads; its grace period runs out after 200 ms.
        var file = Path.Combine(_dir, "grace.yaml");
        File.WriteAllText(file, """
            stages:
              - {name: a, type: tcp_server, config: {bind: "127.0.0.1:0", framing: lines, stats_interval: 100ms}}
              - {name: b, type: tcp_server, config: {bind: "127.0.0.1:0", framing: lines, stop_grace_period: 200ms, egress_buffer: 64MiB}}
            routes:
              - {from: a, to: b, target: all}
            """);
        using var process = Process.Start(CliBinary.StartInfo("run", file, "--quiet"))!;
        try
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
            var run = new RunOutput(process, timeout.Token);
            var filled = await run.FillBWithEgressItsClientDoesNotReadAsync(4 * 1024);
            using var reader = filled.Reader;
            using var writer = filled.Writer;

            using (var kill = Process.Start("kill", ["-TERM", process.Id.ToString()]))
                await kill!.WaitForExitAsync(timeout.Token);
            while (await run.NextOrEndAsync(_ => false) is not null)
            {
            }
            await process.WaitForExitAsync(timeout.Token);
            Assert.Equal(0, process.ExitCode);

            // The last line about b is its totals after the stop: what the stop dropped is in them.
            var lines = run.Lines;
            var closed = lines.FindIndex(j => RunOutput.Is(j, "closed", "b"));
            Assert.True(closed >= 0, "b's closed line");
            var last = lines.FindLastIndex(j => RunOutput.Is(j, "stats", "b"));
            Assert.True(last > closed, "a stats line for b after its closed line");
            Assert.True(lines[last].GetProperty("egress_dropped_bytes").GetInt64() > 0, lines[last].ToString());
            var stderr = await process.StandardError.ReadToEndAsync(timeout.Token);
            Assert.Contains("ferry run: stage 'b': the stop dropped", stderr, StringComparison.Ordinal);
        }
        finally
        {
            if (!process.HasExited)
                process.Kill();
        }
    }

    /// <summary>The JSON lines of a <c>ferry run</c> of two line stages, <c>a</c> routed to all of <c>b</c>.</summary>
    private sealed class RunOutput(Process process, CancellationToken timeout)
    {
        public List<JsonElement> Lines { get; } = [];

        public static bool Is(JsonElement j, string type, string stage) => LineWriter.Is(j, type) && j.GetProperty("stage").GetString() == stage;

        /// <summary>The next line that matches, or null at the end of the output.</summary>
        public async Task<JsonElement?> NextOrEndAsync(Func<JsonElement, bool> match)
        {
            while (await process.StandardOutput.ReadLineAsync(timeout) is { } line)
            {
                var json = JsonDocument.Parse(line).RootElement;
                Lines.Add(json);
                if (match(json))
                    return json;
            }
            return null;
        }

        public async Task<JsonElement> NextAsync(Func<JsonElement, bool> match, string what)
            => await NextOrEndAsync(match) ?? throw new EndOfStreamException($"no {what}: {await process.StandardError.ReadToEndAsync()}");

        /// <summary>
        /// Connects a client to <c>b</c> that never reads and sends <paramref name="lines"/> lines of 1 KiB to <c>a</c>,
        /// which routes them to <c>b</c>; returns when <c>a</c> has read them all (<c>b</c> holds what its client did not take).
        /// </summary>
        public async Task<(IPEndPoint A, Socket Reader, FramedTestClient Writer)> FillBWithEgressItsClientDoesNotReadAsync(int lines)
        {
            static IPEndPoint Listening(JsonElement j) => IPEndPoint.Parse(j.GetProperty("local").GetString()!);
            var a = Listening(await NextAsync(j => Is(j, "listening", "a"), "listening a"));
            var b = Listening(await NextAsync(j => Is(j, "listening", "b"), "listening b"));
            var reader = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { ReceiveBufferSize = 4096 };
            await reader.ConnectAsync(b, timeout); // never reads
            await NextAsync(j => Is(j, "connected", "b"), "b's client connected");
            var writer = await FramedTestClient.ConnectAsync(a);
            var batch = Encoding.ASCII.GetBytes(string.Concat(Enumerable.Repeat(new string('x', 1023) + "\n", 256)));
            for (var i = 0; i < lines / 256; i++)
                await writer.SendAsync(batch);
            await NextAsync(j => Is(j, "stats", "a") && j.GetProperty("packets_in").GetInt64() == lines,
                $"a read all {lines / 1024} MiB (queued in b, whose client does not read)");
            return (a, reader, writer);
        }
    }
}
