using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
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
    public sealed class OnEpoll() : DescriptorExhaustionTests(StageTransport.Epoll);

    public sealed class OnStream() : DescriptorExhaustionTests(StageTransport.Stream);

    private const int DescriptorLimit = 256;
    private const int Clients = 400;

    [Fact]
    public async Task Running_out_of_descriptors_sheds_new_connections_keeps_serving_and_recovers()
    {
        var dll = typeof(FerryCommand).Assembly.Location;
        var start = new ProcessStartInfo("bash", ["-c", $"ulimit -n {DescriptorLimit} && exec dotnet \"{dll}\" serve --bind 127.0.0.1:0 --transport {TransportName} --quiet --echo --max-connections 0"])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
        };
        using var process = Process.Start(start)!;
        var stdout = new ConcurrentQueue<JsonElement>();
        var stderr = new ConcurrentQueue<string>();
        var reading = Task.Run(async () =>
        {
            while (await process.StandardOutput.ReadLineAsync() is { } line)
                stdout.Enqueue(JsonDocument.Parse(line).RootElement);
        });
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) stderr.Enqueue(e.Data); };
        process.BeginErrorReadLine();
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
            Assert.False(process.HasExited, $"ferry serve exited ({process.ExitCode}) while out of descriptors: {string.Join(" | ", stderr.Take(5))}");
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
