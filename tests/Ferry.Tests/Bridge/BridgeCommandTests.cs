using Ferry.Bridge;
using Ferry.Cli;
using Ferry.Tests.Support;

namespace Ferry.Tests.Bridge;

public sealed class BridgeCommandTests
{
    [Theory]
    [InlineData("")]
    [InlineData("middle 127.0.0.1 9000")]
    [InlineData("server 127.0.0.1")]
    [InlineData("server 127.0.0.1 65535")]
    [InlineData("client 127.0.0.1 port")]
    [InlineData("client 127.0.0.1 9000 --loud")]
    public async Task Bad_arguments_exit_2_with_one_line(string commandLine)
    {
        string[] args = commandLine.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        Assert.Equal(2, await BridgeCommand.RunAsync(args, stdout, stderr, CancellationToken.None));
        Assert.Equal(string.Empty, stdout.ToString());
        Assert.Single(stderr.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries));
    }

    [Theory]
    [InlineData("*", "ferry bridge: ADDR '*' is not an address to connect to; give the server's IP address or host name, e.g. 127.0.0.1 (* is a server's: every interface)")]
    [InlineData("", "ferry bridge: ADDR '' is not an address to connect to; give the server's IP address or host name, e.g. 127.0.0.1")]
    [InlineData("bad host", "ferry bridge: ADDR 'bad host' is not an address to connect to; give the server's IP address or host name, e.g. 127.0.0.1")]
    public async Task A_client_address_that_names_no_host_is_a_usage_error_naming_the_argument(string address, string expected)
    {
        // Before: exit 1 and "stage 'PUSH': TcpClientStageOptions.Connect: '*:25050' is not a remote address …".
        var (code, stdout, stderr) = await CliRun.RunAsync("bridge", "client", address, "25050").WaitAsync(TimeSpan.FromSeconds(60));
        Assert.Equal(2, code);
        Assert.Equal(expected, Assert.Single(stderr));
        Assert.Empty(stdout);
    }

    [Fact]
    public async Task A_server_address_that_is_not_this_machines_says_so_once_not_that_another_process_has_the_port()
    {
        // Before: "… another process may be using this port: … AddressNotAvailable …", after a stage log line saying it too.
        var (code, _, stderr) = await CliRun.RunAsync("bridge", "server", "192.0.2.1", "25050").WaitAsync(TimeSpan.FromSeconds(60));
        Assert.Equal(1, code);
        var line = Assert.Single(stderr);
        Assert.StartsWith("ferry bridge: Failed to bind the bridge to port 25050 at address 192.0.2.1, the address is not one of this machine's: ", line);
    }

    [Fact]
    public async Task A_server_address_that_does_not_resolve_names_the_argument_and_the_host()
    {
        // Before: "ferry bridge: Name or service not known", exit 1: no word of which name or which argument.
        var (code, stdout, stderr) = await CliRun.RunAsync("bridge", "server", "nohost.invalid", FreePorts.Pair().ToString(System.Globalization.CultureInfo.InvariantCulture))
            .WaitAsync(TimeSpan.FromSeconds(60));
        Assert.Equal(2, code);
        Assert.Equal("ferry bridge: ADDR 'nohost.invalid' is not an address this machine can listen on (Name or service not known); "
            + "give an IP address of this machine, a name that resolves to one, or * for every interface", Assert.Single(stderr));
        Assert.Empty(stdout);
    }

    [Fact]
    public async Task Echo_server_reports_ready_and_frames_and_returns_them_unchanged()
    {
        int port = FreePorts.Pair();
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        var stdout = new SynchronizedWriter();
        var stderr = new SynchronizedWriter();
        Task<int> command = BridgeCommand.RunAsync(["server", "127.0.0.1", port.ToString(), "--echo"], stdout, stderr, stop.Token);

        await using (var client = new FrameBridgeClient("127.0.0.1", port))
        {
            await client.WaitReadyAsync(stop.Token);
            // Each end is ready when it has the other's READY, so the client may be ready first; the
            // command prints "ready" once the server end is.
            await Deadline.UntilAsync(() => stdout.ToString().Contains("{\"type\":\"ready\"}"), TimeSpan.FromSeconds(30), "the server's ready line");
            var frame = new Frame(new byte[] { 1, 2, 3, 4, 5 }, 0xA55A, 9, 1);
            await client.SendAsync(frame, stop.Token);
            await client.SendAsync(new Frame(ReadOnlyMemory<byte>.Empty, 1, 2, 3), stop.Token);
            List<Frame> echoed = await FerryToFerryTests.ReadAsync(client, 2, stop.Token);
            BridgeFrames.AssertSame(frame, echoed[0], "echo");
            Assert.Equal((0, (ushort)1, (byte)2, (byte)3), (echoed[1].Payload.Length, echoed[1].Flags, echoed[1].Channel, echoed[1].Error));
        }

        await stop.CancelAsync();
        Assert.Equal(0, await command);
        string[] lines = stdout.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        Assert.Equal("{\"type\":\"ready\"}", lines[0]);
        Assert.Contains("{\"type\":\"frame\",\"flags\":42330,\"channel\":9,\"error\":1,\"len\":5}", lines);
        Assert.Contains("{\"type\":\"frame\",\"flags\":1,\"channel\":2,\"error\":3,\"len\":0}", lines);
        Assert.Contains("Ferry.Bridge.127.0.0.1.Server." + port, stderr.ToString());
        Assert.False(FreePorts.Listens(port) || FreePorts.Listens(port + 1), "the command released both ports");
    }

    [Fact]
    public async Task Quiet_echo_with_stats_prints_no_frame_lines_and_a_stats_line_with_what_crossed()
    {
        int port = FreePorts.Pair();
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        var stdout = new SynchronizedWriter();
        Task<int> command = BridgeCommand.RunAsync(["server", "127.0.0.1", port.ToString(), "--echo", "--quiet", "--stats"], stdout, new SynchronizedWriter(), stop.Token);

        await using (var client = new FrameBridgeClient("127.0.0.1", port))
        {
            await client.WaitReadyAsync(stop.Token);
            for (int i = 0; i < 10; i++)
                await client.SendAsync(new Frame(new byte[100], (ushort)i), stop.Token);
            List<Frame> echoed = await FerryToFerryTests.ReadAsync(client, 10, stop.Token);
            Assert.Equal(Enumerable.Range(0, 10).Select(i => (ushort)i), echoed.Select(f => f.Flags));
            // Stats come once a second; wait for one that counts every frame both ways.
            await Deadline.UntilAsync(() => stdout.ToString().Contains("\"frames_in\":10,\"bytes_in\":1000,\"frames_out\":10,\"bytes_out\":1000,"),
                TimeSpan.FromSeconds(30), "a stats line with 10 frames each way");
        }

        await stop.CancelAsync();
        Assert.Equal(0, await command);
        string[] lines = stdout.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        Assert.DoesNotContain(lines, l => l.Contains("\"type\":\"frame\""));
        string stats = lines.First(l => l.StartsWith("{\"type\":\"stats\"", StringComparison.Ordinal));
        foreach (string key in new[] { "ready", "frames_in_per_s", "bytes_out_per_s", "messages_dropped", "handshakes", "pending_send_bytes", "working_set_bytes" })
            Assert.Contains($"\"{key}\":", stats);
    }

    private sealed class SynchronizedWriter : StringWriter
    {
        public override void WriteLine(string? value)
        {
            lock (this)
                base.WriteLine(value);
        }

        public override string ToString()
        {
            lock (this)
                return base.ToString();
        }
    }
}
