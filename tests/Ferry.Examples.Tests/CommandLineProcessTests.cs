using Ferry.Examples.Tests.Support;
using Ferry.Tests.Support;

namespace Ferry.Examples.Tests;

/// <summary>
/// The example programs as a newcomer runs them: <c>--help</c> prints the usage and exits 0; a wrong command line gets
/// one line on stderr (the program's name, what is wrong, which option, what is allowed) and exit code 2, never a
/// stack trace, a hang or a run with a setting quietly changed; a failure at run time gets one line and exit code 1.
/// </summary>
public sealed class CommandLineProcessTests
{
    // A wrong command line ends at once; the deadline only bounds a program that would run on (old code did).
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(20);

    public static TheoryData<string> Programs => [.. ExampleProcess.Programs.Keys];

    /// <summary>Program, arguments, and a part of the line it must print.</summary>
    public static TheoryData<string, string[], string> BadCommandLines => new()
    {
        { "bridge-pipeline", [], "hardware or analysis" },
        { "bridge-pipeline", ["sideways"], "'sideways'" },
        { "bridge-pipeline", ["hardware", "--bogus", "1"], "unknown option '--bogus'" },
        { "bridge-pipeline", ["hardware", "--port"], "--port needs a value" },
        { "bridge-pipeline", ["hardware", "--port", "abc"], "--port 'abc' is not allowed; use a whole number from 1 to 65534" },
        { "bridge-pipeline", ["hardware", "--port", "99999"], "--port '99999' is not allowed; use a whole number from 1 to 65534" },
        { "bridge-pipeline", ["hardware", "--frames", "0"], "--frames '0' is not allowed" },
        { "bridge-pipeline", ["analysis", "--frames", "-1"], "--frames '-1' is not allowed" },
        { "bridge-pipeline", ["hardware", "--max-bytes", "0"], "--max-bytes '0' is not allowed" },
        { "bridge-pipeline", ["hardware", "--address", "no such host"], "--address 'no such host'" },
        { "card-gateway", ["--bind", "abc"], "--bind: 'abc' is not a valid address" },
        { "card-gateway", ["--bogus"], "unknown option '--bogus'" },
        { "card-gateway", ["--bind"], "--bind needs a value" },
        { "card-gateway", ["9300"], "unexpected argument '9300'" },
        { "chat-rooms", ["--bind", "127.0.0.1:99999"], "--bind: '127.0.0.1:99999' is not a valid address" },
        { "chat-rooms", ["--port", "9100"], "unknown option '--port'" },
        { "stream-mux", ["--bind", "127.0.0.1:-1"], "--bind: '127.0.0.1:-1' is not a valid address" },
        { "stream-mux", ["--bind", "127.0.0.1:1", "--bind", "127.0.0.1:2"], "--bind is given twice" },
        { "file-transfer", [], "serve or send" },
        { "file-transfer", ["send"], "FILE is missing" },
        { "file-transfer", ["send", "some.iso", "--chunk", "99999999999"], "--chunk '99999999999' is not allowed; use a whole number from 1 to 262144" },
        { "file-transfer", ["send", "some.iso", "--chunk", "0"], "--chunk '0' is not allowed" },
        { "file-transfer", ["send", "some.iso", "--server", "abc"], "--server: 'abc' is not a remote address" },
        { "file-transfer", ["serve", "--bind", "abc"], "--bind: 'abc' is not a valid address" },
        { "file-transfer", ["serve", "--chunk", "1024"], "unknown option '--chunk'" },
        { "sensor-stage", ["serve", "--bind", "abc"], "--bind: 'abc' is not a valid address" },
        { "sensor-stage", ["serve", "--stage", "127.0.0.1:9500"], "unknown option '--stage'" },
        { "sensor-stage", ["simulate", "--sensors", "-1"], "--sensors '-1' is not allowed" },
        { "sensor-stage", ["simulate", "--sensors", "0"], "--sensors '0' is not allowed" },
        { "sensor-stage", ["simulate", "--sensors", "70000"], "--sensors '70000' is not allowed" },
        { "sensor-stage", ["simulate", "--rate", "0"], "--rate '0' is not allowed" },
        { "sensor-stage", ["simulate", "--stage", "localhost"], "--stage 'localhost'" },
        { "sensor-stage", ["simulate", "--bogus", "3"], "unknown option '--bogus'" },
        { "nats-worker", ["--nats", "abc"], "--nats: 'abc' is not allowed" },
        { "nats-worker", ["--nats"], "--nats needs a value" },
        { "nats-worker", ["--mode", "x"], "--mode 'x' is not allowed; use core or jetstream" },
        { "nats-worker", ["--forbidden", ""], "--forbidden needs a value" },
        { "nats-worker", ["--stage", "a b"], "--stage: " },
    };

    [Theory]
    [MemberData(nameof(Programs))]
    public async Task Help_prints_the_usage_on_stdout_and_exits_0(string program)
    {
        var (code, stdout, stderr) = await ExampleProcess.RunAsync(program, ["--help"], Deadline);
        Assert.True(code == 0, $"exit code {code}; stderr: {stderr}");
        Assert.StartsWith($"usage: {program} ", stdout);
        Assert.Equal("", stderr);
    }

    [Theory]
    [MemberData(nameof(BadCommandLines))]
    public async Task A_bad_command_line_gets_one_line_on_stderr_and_exit_code_2(string program, string[] args, string expected)
    {
        var (code, stdout, stderr) = await ExampleProcess.RunAsync(program, args, Deadline);
        Assert.True(code == 2, $"exit code {code}; stdout: {stdout}; stderr: {stderr}");
        var line = Assert.Single(ExampleProcess.Lines(stderr));
        Assert.StartsWith($"{program}: ", line);
        Assert.Contains(expected, line);
        Assert.EndsWith($"(see {program} --help)", line);
        Assert.Equal("", stdout);
    }

    [Fact]
    public async Task A_simulated_sensor_that_cannot_reach_its_stage_is_reported_and_exits_1()
    {
        // One sensor: with more, which of them fails first (and so is reported) is a race between their connects.
        var (code, stdout, stderr) = await ExampleProcess.RunAsync("sensor-stage", ["simulate", "--stage", $"127.0.0.1:{FreePorts.One()}", "--sensors", "1"], Deadline);
        Assert.True(code == 1, $"exit code {code}; stdout: {stdout}; stderr: {stderr}");
        var line = Assert.Single(ExampleProcess.Lines(stderr));
        Assert.StartsWith("sensor-stage: sensor 1 cannot connect to 127.0.0.1:", line);
    }

    [Fact]
    public async Task A_nats_worker_without_a_server_says_so_in_one_line_and_exits_1()
    {
        var url = $"nats://127.0.0.1:{FreePorts.One()}";
        var (code, stdout, stderr) = await ExampleProcess.RunAsync("nats-worker", ["--nats", url], Deadline);
        Assert.True(code == 1, $"exit code {code}; stdout: {stdout}; stderr: {stderr}");
        Assert.DoesNotContain("Unhandled exception", stderr);
        Assert.StartsWith($"nats-worker: cannot connect to {url}", ExampleProcess.Lines(stderr)[^1]);
    }

    [Fact]
    public async Task A_directory_given_as_the_file_to_send_is_named_in_one_line_and_exits_1()
    {
        var (code, stdout, stderr) = await ExampleProcess.RunAsync("file-transfer", ["send", AppContext.BaseDirectory, "--server", $"127.0.0.1:{FreePorts.One()}"], Deadline);
        Assert.True(code == 1, $"exit code {code}; stdout: {stdout}; stderr: {stderr}");
        Assert.Equal($"file-transfer: '{AppContext.BaseDirectory}' is a directory; send a file", Assert.Single(ExampleProcess.Lines(stderr)));
    }

    [Fact]
    public async Task A_file_given_as_the_server_directory_is_named_with_its_option_and_exits_1()
    {
        var file = typeof(CommandLineProcessTests).Assembly.Location;
        var (code, stdout, stderr) = await ExampleProcess.RunAsync("file-transfer", ["serve", "--dir", file, "--bind", "127.0.0.1:0"], Deadline);
        Assert.True(code == 1, $"exit code {code}; stdout: {stdout}; stderr: {stderr}");
        Assert.StartsWith($"file-transfer: --dir '{file}' cannot be used: ", Assert.Single(ExampleProcess.Lines(stderr)));
    }

    [Fact]
    public async Task A_sender_stopped_while_it_waits_for_its_server_exits_130_with_one_line()
    {
        var file = Path.Combine(Path.GetTempPath(), $"ferry-send-{Guid.NewGuid():N}.bin");
        await File.WriteAllBytesAsync(file, new byte[1000]);
        // Nothing listens there: the sender re-dials with back-off, as it does when its server restarts.
        using var sender = ExampleProcess.Start("file-transfer", ["send", file, "--server", $"127.0.0.1:{FreePorts.One()}"]);
        try
        {
            using (var started = new CancellationTokenSource(Deadline))
            {
                // The line comes once Ctrl+C and SIGTERM are handled, so the signal below is the program's to handle.
                var line = await sender.StandardOutput.ReadLineAsync(started.Token);
                Assert.StartsWith($"file-transfer: sending {file} to 127.0.0.1:", line);
            }
            await ExampleProcess.TerminateAsync(sender);
            var (code, _, stderr) = await ExampleProcess.FinishAsync(sender, Deadline);
            Assert.True(code == 130, $"exit code {code}; stderr: {stderr}");
            Assert.Equal("file-transfer: stopped; send the same file again to resume", Assert.Single(ExampleProcess.Lines(stderr)));
        }
        finally
        {
            if (!sender.HasExited)
                sender.Kill(entireProcessTree: true);
            File.Delete(file);
        }
    }

    [Fact]
    public async Task A_sensor_stage_whose_port_is_taken_says_so_in_one_line_and_exits_1()
    {
        using var taken = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        taken.Start();
        var bind = taken.LocalEndpoint.ToString()!;
        var (code, stdout, stderr) = await ExampleProcess.RunAsync("sensor-stage", ["serve", "--bind", bind], Deadline);
        Assert.True(code == 1, $"exit code {code}; stdout: {stdout}; stderr: {stderr}");
        Assert.StartsWith($"sensor-stage: stage 'sensors' cannot listen on {bind}: AddressAlreadyInUse", Assert.Single(ExampleProcess.Lines(stderr)));
    }

    [SkippableFact]
    public async Task A_jetstream_worker_on_a_server_without_jetstream_says_so_in_one_line_and_exits_1()
    {
        await using var nats = await Ferry.Nats.Tests.Support.NatsServer.StartNewAsync(jetStream: false);
        var (code, stdout, stderr) = await ExampleProcess.RunAsync("nats-worker", ["--nats", nats.Url, "--mode", "jetstream"], Deadline);
        Assert.True(code == 1, $"exit code {code}; stdout: {stdout}; stderr: {stderr}");
        Assert.DoesNotContain("Unhandled exception", stderr);
        Assert.Equal($"nats-worker: the NATS server at {nats.Url} has no JetStream, which --mode jetstream needs (start it with -js)",
            ExampleProcess.Lines(stderr)[^1]);
    }
}
