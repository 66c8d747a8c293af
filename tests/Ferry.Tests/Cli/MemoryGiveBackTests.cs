using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Text.Json;
using Ferry.Cli;
using Ferry.Tests.Support;

namespace Ferry.Tests.Cli;

/// <summary>
/// Clients that hold large frames open and leave must not leave <c>ferry serve</c> at its peak size:
/// measured on the process itself (its RSS), so it runs as a process of its own.
/// </summary>
public sealed class MemoryGiveBackTests
{
    private const int FrameBytes = 1024 * 1024;
    private const int ClientsPerRound = 48; // within the default 64 MiB max_pending_bytes

    [Fact]
    public async Task After_rounds_of_clients_holding_1_MiB_partial_frames_leave_RSS_returns_near_its_baseline()
    {
        var dll = typeof(FerryCommand).Assembly.Location;
        var start = new ProcessStartInfo("dotnet", $"\"{dll}\" serve --bind 127.0.0.1:0 --quiet --max-connections 0 --framing u32be")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
        };
        using var process = Process.Start(start)!;
        var stdout = new ConcurrentQueue<JsonElement>();
        var reading = Task.Run(async () =>
        {
            while (await process.StandardOutput.ReadLineAsync() is { } line)
                stdout.Enqueue(JsonDocument.Parse(line).RootElement);
        });
        process.ErrorDataReceived += (_, _) => { };
        process.BeginErrorReadLine();
        try
        {
            await Poll.UntilAsync(() => stdout.Any(j => LineWriter.Is(j, "listening")), "the listening line", TimeSpan.FromSeconds(30));
            var endPoint = IPEndPoint.Parse(stdout.First(j => LineWriter.Is(j, "listening")).GetProperty("local").GetString()!);
            // Warm up the path once, then take the baseline.
            using (var warm = await FramedTestClient.ConnectAsync(endPoint))
                await warm.SendAsync(Frame(5, 5));
            await Task.Delay(500); // not a timer wait: lets the process settle before its baseline is read
            var baseline = RssBytes(process.Id);

            long peak = 0;
            for (var round = 0; round < 4; round++)
            {
                var clients = new List<FramedTestClient>();
                for (var i = 0; i < ClientsPerRound; i++)
                {
                    var client = await FramedTestClient.ConnectAsync(endPoint);
                    clients.Add(client);
                    // A 1 MiB frame, one byte short: the server must keep it, unfinished.
                    await client.SendAsync(Frame(FrameBytes, FrameBytes - 1));
                }
                await Poll.UntilAsync(() => StatsBytesIn(stdout) >= (long)(round + 1) * ClientsPerRound * (FrameBytes + 3), "the partial frames to arrive", TimeSpan.FromSeconds(30));
                peak = Math.Max(peak, RssBytes(process.Id));
                foreach (var client in clients)
                    client.Dispose();
            }
            Assert.True(peak - baseline > 48L * 1024 * 1024, $"the rounds should have cost memory (baseline {baseline >> 20} MiB, peak {peak >> 20} MiB)");

            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
            long now;
            while ((now = RssBytes(process.Id)) > baseline + 32L * 1024 * 1024 && DateTime.UtcNow < deadline)
                await Task.Delay(250);
            Assert.True(now <= baseline + 32L * 1024 * 1024, $"RSS {now >> 20} MiB, baseline {baseline >> 20} MiB, peak {peak >> 20} MiB");
        }
        finally
        {
            if (!process.HasExited)
                process.Kill();
            await reading.WaitAsync(TimeSpan.FromSeconds(10)).ContinueWith(_ => { }, TaskScheduler.Default);
        }
    }

    private static byte[] Frame(int announced, int bytes)
    {
        var frame = new byte[4 + bytes];
        BinaryPrimitives.WriteInt32BigEndian(frame, announced);
        return frame;
    }

    private static long StatsBytesIn(ConcurrentQueue<JsonElement> lines)
        => lines.Where(j => LineWriter.Is(j, "stats")).Select(j => j.GetProperty("bytes_in").GetInt64()).DefaultIfEmpty(0).Max();

    private static long RssBytes(int pid)
    {
        foreach (var line in File.ReadLines($"/proc/{pid}/status"))
            if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
                return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]) * 1024;
        throw new InvalidOperationException("no VmRSS");
    }
}
