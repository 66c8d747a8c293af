using System.Buffers;
using System.Diagnostics;
using System.Net.Sockets;
using System.Text.Json;
using Ferry.Bridge;
using Ferry.Bridge.Zmtp;
using Ferry.Cli;
using Ferry.Tests.Support;

namespace Ferry.Tests.Cli;

public sealed class BridgeSignalTests
{
    [Fact]
    public async Task Sigterm_stops_ferry_bridge_gracefully_and_quiet_is_accepted()
    {
        var dll = typeof(FerryCommand).Assembly.Location;
        var port = FreePorts.Pair();
        var start = new ProcessStartInfo("dotnet", $"\"{dll}\" bridge server 127.0.0.1 {port} --quiet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
        };
        using var process = Process.Start(start)!;
        try
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            // Listening on both ports: the bridge is up (it prints "ready" only once a peer has connected).
            await Poll.UntilAsync(() => Listening(port) && Listening(port + 1), "the bridge to listen on both ports", TimeSpan.FromSeconds(30));

            using (var kill = Process.Start("kill", ["-TERM", process.Id.ToString()]))
                await kill!.WaitForExitAsync(timeout.Token);

            var output = await process.StandardOutput.ReadToEndAsync(timeout.Token);
            await process.WaitForExitAsync(timeout.Token);
            Assert.Equal(0, process.ExitCode); // stopped, not killed by the signal (143)
            Assert.Contains("{\"type\":\"closed\"}", output);
        }
        finally
        {
            if (!process.HasExited)
                process.Kill();
        }
    }

    [Fact]
    [Trait("Category", "BlackBox")]
    public async Task A_second_signal_cuts_a_long_stop_grace_period_short_and_the_stop_says_what_it_dropped()
    {
        // Before, ferry bridge had no --stop-grace-period (exit 2, "Unrecognized command or argument"): its ends always drained
        // for the library's 1 s. Here the grace period is 5 minutes and a peer that completed the handshake never reads, so
        // only the second signal can end the stop.
        var port = FreePorts.Pair();
        var start = CliBinary.StartInfo("bridge", "server", "127.0.0.1", port.ToString(System.Globalization.CultureInfo.InvariantCulture),
            "--echo", "--quiet", "--stats", "--stop-grace-period", "5m");
        using var process = Process.Start(start)!;
        try
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
            var stderr = process.StandardError.ReadToEndAsync(timeout.Token);
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
            await Poll.UntilAsync(() => process.HasExited || (FreePorts.Listens(port) && FreePorts.Listens(port + 1)),
                "the bridge to listen on both ports", TimeSpan.FromSeconds(30));
            Assert.False(process.HasExited, $"ferry bridge exited with {(process.HasExited ? process.ExitCode : 0)}: {await ReadIfExitedAsync(process, stderr)}");

            // The server's PUSH port (PORT+1) has the peer that never reads; its PULL port (PORT) a peer that sends frames,
            // which the echo queues for the first.
            using var stalled = await ZmtpPeer.ConnectAsync(port + 1, ZmtpSocketType.Pull, timeout.Token);
            using var pusher = await ZmtpPeer.ConnectAsync(port, ZmtpSocketType.Push, timeout.Token);
            Assert.NotNull(await NextAsync(j => LineWriter.Is(j, "ready")));
            var encoded = new ArrayBufferWriter<byte>();
            RogueMessage.Write(new byte[64 * 1024], 0, 0, 0, encoded);
            var frame = encoded.WrittenMemory.ToArray();
            using var sending = CancellationTokenSource.CreateLinkedTokenSource(timeout.Token);
            Task sender = Task.Run(async () =>
            {
                for (var i = 0; i < 1024; i++) // 64 MiB: far more than the peer's, the kernel's and the end's buffers hold
                    await pusher.Socket.SendAsync(frame, SocketFlags.None, sending.Token);
            }, CancellationToken.None);

            // Stuck: two stats lines a second apart with the same frames in and bytes still queued for the peer that does not read.
            long? lastIn = null;
            Assert.NotNull(await NextAsync(j =>
            {
                if (!LineWriter.Is(j, "stats"))
                    return false;
                var framesIn = j.GetProperty("frames_in").GetInt64();
                var stuck = framesIn > 0 && framesIn == lastIn && j.GetProperty("pending_send_bytes").GetInt64() > 0;
                lastIn = framesIn;
                return stuck;
            }));

            using (var kill = Process.Start("kill", ["-TERM", process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]))
                await kill!.WaitForExitAsync(timeout.Token);
            // The first signal was taken once the end stops accepting; its drain cannot end, the peer reads nothing.
            await Poll.UntilAsync(() => !FreePorts.Listens(port + 1), "ferry bridge stops listening after SIGTERM", TimeSpan.FromSeconds(20));
            using (var soon = new CancellationTokenSource(TimeSpan.FromSeconds(2)))
                await Assert.ThrowsAnyAsync<OperationCanceledException>(() => process.WaitForExitAsync(soon.Token));

            using (var kill = Process.Start("kill", ["-TERM", process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]))
                await kill!.WaitForExitAsync(timeout.Token);
            while (await NextAsync(_ => false) is not null)
            {
            }
            await process.WaitForExitAsync(timeout.Token); // long before the 5-minute grace period
            Assert.Equal(0, process.ExitCode);
            Assert.Contains(lines, j => LineWriter.Is(j, "closed"));
            var errors = await stderr;
            Assert.Matches(@"ferry bridge: the stop dropped \d+ bytes of queued frames that could not be written within its --stop-grace-period \(or before a second signal\)", errors);

            await sending.CancelAsync();
            await sender.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing | ConfigureAwaitOptions.ContinueOnCapturedContext);
        }
        finally
        {
            if (!process.HasExited)
                process.Kill();
        }
    }

    [Theory]
    [InlineData("5x")]
    [InlineData("1e300s")]
    public async Task A_bad_stop_grace_period_is_refused_as_serve_refuses_it(string value)
    {
        var bridgeErr = new StringWriter();
        Assert.Equal(2, await BridgeCommand.RunAsync(["server", "127.0.0.1", "9000", "--stop-grace-period", value], new StringWriter(), bridgeErr, CancellationToken.None));
        var serveErr = new StringWriter();
        Assert.Equal(2, await FerryCommand.RunAsync(["serve", "--stop-grace-period", value], TextReader.Null, new StringWriter(), serveErr, CancellationToken.None));
        // The same words after the command's own name.
        string Line(StringWriter w, string command)
        {
            var line = Assert.Single(w.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries),
                l => l.Contains($"--stop-grace-period '{value}'", StringComparison.Ordinal));
            Assert.StartsWith($"{command}: ", line);
            return line[(command.Length + 2)..];
        }
        Assert.Equal(Line(serveErr, "ferry serve"), Line(bridgeErr, "ferry bridge"));
    }

    private static async Task<string> ReadIfExitedAsync(Process process, Task<string> stderr)
        => process.HasExited ? await stderr : "";

    /// <summary>A raw ZMTP peer that completes the greeting and READY exchange, with a small receive buffer (one that never reads stalls soon).</summary>
    private sealed class ZmtpPeer : IDisposable
    {
        private ZmtpPeer(Socket socket) => Socket = socket;

        public Socket Socket { get; }

        public static async Task<ZmtpPeer> ConnectAsync(int port, ZmtpSocketType type, CancellationToken cancellationToken)
        {
            var peer = new ZmtpPeer(new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { ReceiveBufferSize = 4096 });
            try
            {
                await peer.Socket.ConnectAsync("127.0.0.1", port, cancellationToken);
                var greeting = new ArrayBufferWriter<byte>();
                ZmtpGreeting.Write(greeting);
                await peer.Socket.SendAsync(greeting.WrittenMemory, cancellationToken);
                await peer.ReceiveExactlyAsync(ZmtpGreeting.Length, cancellationToken);
                var ready = new ArrayBufferWriter<byte>();
                ZmtpCommand.WriteReady(ready, type);
                await peer.Socket.SendAsync(ready.WrittenMemory, cancellationToken);
                // The server's READY: a short command frame (flags, one length byte, the body).
                var header = await peer.ReceiveExactlyAsync(2, cancellationToken);
                Assert.True((header[0] & 0x04) != 0, "the server's answer should be a command");
                await peer.ReceiveExactlyAsync(header[1], cancellationToken);
                return peer;
            }
            catch
            {
                peer.Dispose();
                throw;
            }
        }

        private async Task<byte[]> ReceiveExactlyAsync(int count, CancellationToken cancellationToken)
        {
            var bytes = new byte[count];
            for (var got = 0; got < count;)
            {
                var n = await Socket.ReceiveAsync(bytes.AsMemory(got), cancellationToken);
                if (n == 0)
                    throw new IOException("the bridge closed the connection during the handshake");
                got += n;
            }
            return bytes;
        }

        public void Dispose() => Socket.Dispose();
    }

    private static bool Listening(int port)
    {
        try
        {
            using var probe = new System.Net.Sockets.TcpClient();
            probe.Connect(System.Net.IPAddress.Loopback, port);
            return true;
        }
        catch (System.Net.Sockets.SocketException)
        {
            return false;
        }
    }
}
