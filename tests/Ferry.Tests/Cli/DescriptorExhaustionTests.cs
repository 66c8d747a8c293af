using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Runtime.InteropServices;
using System.Text.Json;
using Ferry.Cli;
using Ferry.Tests.Support;
using Ferry.Transport;

namespace Ferry.Tests.Cli;

/// <summary>
/// <c>ferry serve</c> in its own process under a low <c>ulimit -n</c>, so running out of descriptors
/// harms nothing but that process: it must shed connections, stay up, log briefly, and recover, on both
/// transports (each keeps the same descriptor reserve). The default log level builds the console logger
/// on its first warning, which comes when descriptors are short: that must not crash either.
/// </summary>
public abstract class DescriptorExhaustionTests(StageTransport transport)
{
    public sealed class OnEpoll() : DescriptorExhaustionTests(StageTransport.Epoll)
    {
        /// <summary>
        /// Epoll only: with the reserve bypassed the process is really out of descriptors, and the stream
        /// transport then needs thread-pool threads that the runtime itself cannot create ("Out of memory.",
        /// abort 134, seen under load): that is the state the reserve exists to avoid, not one Ferry can survive
        /// on every transport. The stream transport's EMFILE naming was checked by hand (prlimit, see the report).
        /// </summary>
        [Fact]
        public Task Descriptors_taken_below_the_reserve_are_named_EMFILE_with_what_to_raise_and_logging_them_never_crashes()
            => LoweredLimitIsNamedAndSurvived();
    }

    public sealed class OnStream() : DescriptorExhaustionTests(StageTransport.Stream);

    private const int DescriptorLimit = 256;
    private const int Clients = 400;

    [Fact]
    public async Task Running_out_of_descriptors_sheds_new_connections_keeps_serving_and_recovers()
    {
        using var process = StartServe(DescriptorLimit, out var stdout, out var stderr, out var reading);
        var clients = new List<FramedTestClient>();
        try
        {
            await Poll.UntilAsync(() => stdout.Any(j => LineWriter.Is(j, "listening")), "the listening line", TimeSpan.FromSeconds(30));
            var endPoint = IPEndPoint.Parse(stdout.First(j => LineWriter.Is(j, "listening")).GetProperty("local").GetString()!);
            for (var i = 0; i < Clients; i++)
            {
                try
                {
                    clients.Add(await FramedTestClient.ConnectAsync(endPoint));
                }
                catch (System.Net.Sockets.SocketException)
                {
                    // A full backlog may refuse a connect outright: for this test that is shedding too.
                }
            }

            // More clients than descriptors: the newest are shed with a reason that says why.
            await Poll.UntilAsync(() => stdout.Any(IsShed) || process.HasExited, "a connection shed for want of descriptors", TimeSpan.FromSeconds(20));
            if (process.HasExited)
                Assert.Fail($"ferry serve exited ({process.ExitCode}) while out of descriptors: {string.Join(" | ", stderr.Take(5))}");
            var shedDetail = stdout.First(IsShed).GetProperty("detail").GetString()!;
            Assert.Contains($"process limit of {DescriptorLimit}", shedDetail);
            Assert.Contains("ulimit -n", shedDetail);

            // Still serving the connections it holds.
            var held = stdout.Where(j => LineWriter.Is(j, "connected")).Select(j => j.GetProperty("peer").GetString()).ToHashSet();
            var served = clients.First(c => held.Contains(c.LocalEndPoint.ToString()));
            await served.SendAsync("still here");
            Assert.Equal("still here"u8.ToArray(), await served.ReceiveExactlyAsync(10));

            // Everyone leaves; a newcomer is served again without a restart.
            foreach (var client in clients)
                client.Dispose();
            clients.Clear();
            var statsBefore = stdout.Count;
            await Poll.UntilAsync(() => stdout.Skip(statsBefore).Any(j => LineWriter.Is(j, "stats") && j.GetProperty("connections").GetInt32() == 0),
                "every connection to be closed", TimeSpan.FromSeconds(20));
            using (var newcomer = await ConnectServedAsync(endPoint))
            {
                await newcomer.SendAsync("back");
                Assert.Equal("back"u8.ToArray(), await newcomer.ReceiveExactlyAsync(4));
            }

            Assert.False(process.HasExited, "ferry serve exited while out of descriptors");
            // Logged briefly: the rate limit keeps a storm of sheds to a handful of lines.
            var descriptorLines = stderr.Count(l => l.Contains("descriptor", StringComparison.OrdinalIgnoreCase));
            Assert.InRange(descriptorLines, 1, 2 * 10 + 4);

            using (var kill = Process.Start("kill", ["-TERM", process.Id.ToString()]))
                await kill!.WaitForExitAsync();
            await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(20));
            Assert.Equal(0, process.ExitCode);
        }
        finally
        {
            foreach (var client in clients)
                client.Dispose();
            if (!process.HasExited)
                process.Kill();
            await reading.WaitAsync(TimeSpan.FromSeconds(10)).ContinueWith(_ => { }, TaskScheduler.Default);
        }
    }

    /// <summary>Starts <c>ferry serve</c> (echo, no connection limit) under <c>ulimit -n</c> <paramref name="limit"/>, collecting its output.</summary>
    private Process StartServe(int limit, out ConcurrentQueue<JsonElement> stdout, out ConcurrentQueue<string> stderr, out Task reading)
    {
        var dll = typeof(FerryCommand).Assembly.Location;
        var start = new ProcessStartInfo("bash", ["-c", $"ulimit -n {limit} && exec dotnet \"{dll}\" serve --bind 127.0.0.1:0 --transport {TransportName} --quiet --echo --max-connections 0"])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
        };
        var process = Process.Start(start)!;
        var lines = stdout = new ConcurrentQueue<JsonElement>();
        var errors = stderr = new ConcurrentQueue<string>();
        reading = Task.Run(async () =>
        {
            while (await process.StandardOutput.ReadLineAsync() is { } line)
                lines.Enqueue(JsonDocument.Parse(line).RootElement);
        });
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) errors.Enqueue(e.Data); };
        process.BeginErrorReadLine();
        return process;
    }

    private async Task LoweredLimitIsNamedAndSurvived()
    {
        // The reserve is sized from the limit at start; lowered afterwards (prlimit), the process really runs
        // out, and the first warning builds the CLI's logger right then. That build failed on a file it could
        // not open and the exception aborted the process (hostile-net review 1); the stream transport also
        // named the process limit ENFILE, the system's.
        using var process = StartServe(4096, out var stdout, out var stderr, out var reading);
        var clients = new List<FramedTestClient>();
        try
        {
            await Poll.UntilAsync(() => stdout.Any(j => LineWriter.Is(j, "listening")), "the listening line", TimeSpan.FromSeconds(30));
            var endPoint = IPEndPoint.Parse(stdout.First(j => LineWriter.Is(j, "listening")).GetProperty("local").GetString()!);
            using (var first = await ConnectServedAsync(endPoint))
            {
                // Served once: the reserve has read its limit. Now leave the process a few dozen descriptors.
                var limit = Directory.GetFiles($"/proc/{process.Id}/fd").Length + 40;
                Assert.Equal(0, SetDescriptorLimit(process.Id, limit));
                for (var i = 0; i < 100; i++)
                {
                    try
                    {
                        clients.Add(await FramedTestClient.ConnectAsync(endPoint));
                    }
                    catch (System.Net.Sockets.SocketException)
                    {
                        // A full backlog may refuse a connect: that is the point.
                    }
                }
                await Poll.UntilAsync(() => stderr.Any(l => l.Contains("EMFILE", StringComparison.Ordinal)) || process.HasExited, "the accept failure logged", TimeSpan.FromSeconds(30));
                if (process.HasExited)
                    Assert.Fail($"ferry serve exited ({process.ExitCode}) when descriptors ran out: {string.Join(" | ", stderr.Take(8))}");
                var failure = stderr.First(l => l.Contains("EMFILE", StringComparison.Ordinal));
                Assert.Contains($"EMFILE (Too many open files): the process limit of {limit} descriptors is reached; raise it with ulimit -n, or LimitNOFILE= under systemd", failure);
                Assert.DoesNotContain(stderr, l => l.Contains("ENFILE", StringComparison.Ordinal));

                // The connection it held is still served.
                await first.SendAsync("held");
                Assert.Equal("held"u8.ToArray(), await first.ReceiveExactlyAsync(4));
            }

            // Once clients leave, newcomers are served again.
            foreach (var client in clients)
                client.Dispose();
            clients.Clear();
            using (var newcomer = await ConnectServedAsync(endPoint))
            {
                await newcomer.SendAsync("back");
                Assert.Equal("back"u8.ToArray(), await newcomer.ReceiveExactlyAsync(4));
            }
            using (var kill = Process.Start("kill", ["-TERM", process.Id.ToString()]))
                await kill!.WaitForExitAsync();
            await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(20));
            Assert.Equal(0, process.ExitCode);
        }
        finally
        {
            foreach (var client in clients)
                client.Dispose();
            if (!process.HasExited)
                process.Kill();
            await reading.WaitAsync(TimeSpan.FromSeconds(10)).ContinueWith(_ => { }, TaskScheduler.Default);
        }
    }

    /// <summary>Sets another process's soft descriptor limit (its hard limit stays); 0 or an errno.</summary>
    private static int SetDescriptorLimit(int pid, long soft)
    {
        var limits = new ulong[2];
        if (prlimit(pid, RlimitNofile, IntPtr.Zero, limits) != 0)
            return Marshal.GetLastPInvokeError();
        limits[0] = (ulong)soft;
        return prlimit(pid, RlimitNofile, limits, null) == 0 ? 0 : Marshal.GetLastPInvokeError();
    }

    private const int RlimitNofile = 7;

    [DllImport("libc", SetLastError = true)]
    private static extern int prlimit(int pid, int resource, ulong[] newLimit, ulong[]? oldLimit);

    [DllImport("libc", SetLastError = true)]
    private static extern int prlimit(int pid, int resource, IntPtr newLimit, [Out] ulong[] oldLimit);

    private string TransportName => transport == StageTransport.Epoll ? "epoll" : "stream";

    private static bool IsShed(JsonElement j) => LineWriter.Is(j, "disconnected") && j.GetProperty("reason").GetString() == "limit"
        && j.TryGetProperty("detail", out var d) && d.GetString()!.Contains("out of file descriptors", StringComparison.Ordinal);

    /// <summary>A connection the server keeps: right after the storm it may still shed one or two while it recovers.</summary>
    private static async Task<FramedTestClient> ConnectServedAsync(IPEndPoint endPoint)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (true)
        {
            var client = await FramedTestClient.ConnectAsync(endPoint);
            await client.SendAsync("?");
            try
            {
                await client.ReceiveExactlyAsync(1, TimeSpan.FromSeconds(2));
                return client;
            }
            catch (Exception) when (DateTime.UtcNow < deadline)
            {
                client.Dispose();
            }
        }
    }
}
