using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using Ferry.Cli;
using Ferry.Tests.Support;

namespace Ferry.Tests.Cli;

[Trait("Category", "BlackBox")]
public sealed class ServeSignalTests
{
    [Fact]
    public async Task Sigterm_stops_ferry_serve_gracefully()
    {
        var start = CliBinary.StartInfo("serve", "--bind", "127.0.0.1:0", "--quiet");
        using var process = Process.Start(start)!;
        try
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            var lines = new List<JsonElement>();
            async Task<JsonElement> NextAsync(string type)
            {
                while (true)
                {
                    var line = await process.StandardOutput.ReadLineAsync(timeout.Token) ?? throw new EndOfStreamException($"no '{type}' line");
                    var json = JsonDocument.Parse(line).RootElement;
                    lines.Add(json);
                    if (LineWriter.Is(json, type))
                        return json;
                }
            }
            var listening = await NextAsync("listening");
            using var client = await FramedTestClient.ConnectAsync(IPEndPoint.Parse(listening.GetProperty("local").GetString()!));
            await NextAsync("connected");

            using (var kill = Process.Start("kill", ["-TERM", process.Id.ToString()]))
                await kill!.WaitForExitAsync(timeout.Token);

            var disconnected = await NextAsync("disconnected");
            Assert.Equal("server_stopping", disconnected.GetProperty("reason").GetString());
            await NextAsync("closed");
            await process.WaitForExitAsync(timeout.Token);
            Assert.Equal(0, process.ExitCode);
            Assert.True(await client.WaitClosedAsync());
        }
        finally
        {
            if (!process.HasExited)
                process.Kill();
        }
    }

    [Fact]
    public async Task A_second_signal_cuts_the_drain_short_and_the_stop_says_what_it_dropped()
    {
        // The echo queues what a client that never reads sends; a 5-minute grace period would wait for it.
        var start = CliBinary.StartInfo("serve", "--bind", "127.0.0.1:0", "--quiet", "--echo", "--egress-buffer", "64MiB", "--stop-grace-period", "5m");
        using var process = Process.Start(start)!;
        try
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
            var lines = new List<JsonElement>();
            async Task<JsonElement?> NextAsync(Func<JsonElement, bool> match)
            {
                while (await process.StandardOutput.ReadLineAsync(timeout.Token) is { } line)
                {
                    var json = JsonDocument.Parse(line).RootElement;
                    lines.Add(json);
                    if (match(json))
                        return json;
                }
                return null;
            }
            var listening = await NextAsync(j => LineWriter.Is(j, "listening")) ?? throw new EndOfStreamException("no listening line");
            var at = IPEndPoint.Parse(listening.GetProperty("local").GetString()!);
            using var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { ReceiveBufferSize = 4096 };
            await client.ConnectAsync(at, timeout.Token); // never reads
            const int Total = 8 * 1024 * 1024;
            var chunk = new byte[64 * 1024];
            for (var sent = 0; sent < Total; sent += chunk.Length)
                await client.SendAsync(chunk, SocketFlags.None, timeout.Token);
            Assert.NotNull(await NextAsync(j => LineWriter.Is(j, "stats") && j.GetProperty("bytes_in").GetInt64() == Total));

            using (var kill = Process.Start("kill", ["-TERM", process.Id.ToString()]))
                await kill!.WaitForExitAsync(timeout.Token);
            // The first signal was taken once the stage stops accepting; the drain cannot end, the client reads nothing.
            await Poll.UntilAsync(() => !Listener.Accepts(at), "ferry serve refuses new connections after SIGTERM", TimeSpan.FromSeconds(20));
            using (var kill = Process.Start("kill", ["-TERM", process.Id.ToString()]))
                await kill!.WaitForExitAsync(timeout.Token);
            while (await NextAsync(_ => false) is not null)
            {
            }
            await process.WaitForExitAsync(timeout.Token); // long before the 5-minute grace period
            Assert.Equal(0, process.ExitCode);

            // After 'closed', the totals: what the forced stop dropped is in them, and stderr says so.
            var closed = lines.FindIndex(j => LineWriter.Is(j, "closed"));
            Assert.True(closed >= 0, "a closed line");
            var last = lines.FindLastIndex(j => LineWriter.Is(j, "stats"));
            Assert.True(last > closed, "a stats line after the closed line");
            Assert.True(lines[last].GetProperty("egress_dropped_bytes").GetInt64() > 0, lines[last].ToString());
            Assert.Equal(Total, lines[last].GetProperty("bytes_in").GetInt64());
            var stderr = await process.StandardError.ReadToEndAsync(timeout.Token);
            Assert.Contains("ferry serve: the stage: the stop dropped", stderr, StringComparison.Ordinal);
        }
        finally
        {
            if (!process.HasExited)
                process.Kill();
        }
    }
}
