using System.Diagnostics;
using System.Net;
using System.Text.Json;
using Ferry.Tests.Support;

namespace Ferry.Tests.Cli;

/// <summary>
/// The <c>ferry</c> program as a user runs it, in its own process: the JIT build by default, the
/// native binary when <c>FERRY_CLI_BINARY</c> names it (CI does both).
/// </summary>
[Trait("Category", "BlackBox")]
public sealed class BlackBoxCliTests
{
    [Theory]
    [InlineData("serve")]
    [InlineData("connect")]
    [InlineData("bridge")]
    [InlineData("run")]
    [InlineData("check")]
    [InlineData("cert")]
    public async Task Help_works_for_every_command(string command)
    {
        var (code, stdout, stderr) = await CliBinary.RunAsync([command, "--help"]);
        Assert.Equal(0, code);
        Assert.Contains($"Usage:{Environment.NewLine}  ferry {command} ", stdout); // the binary's own name (Ferry.Cli) is not what users type
        Assert.Equal("", stderr);
    }

    [Fact]
    public async Task Sighup_stops_serve_gracefully_as_sigterm_does()
    {
        // The terminal closing (an ssh session that ended) sends SIGHUP: by default it ended the process at once, every client
        // reset and nothing drained (exit 129). Now it is a stop like SIGTERM: the client is told server_stopping, exit 0.
        if (!OperatingSystem.IsLinux())
            return;
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        using var serve = Process.Start(CliBinary.StartInfo("serve", "--bind", "127.0.0.1:0", "--quiet"))!;
        try
        {
            var listening = await CliBinary.ReadUntilListeningAsync(serve, timeout.Token);
            using var client = await FramedTestClient.ConnectAsync(IPEndPoint.Parse(JsonDocument.Parse(listening!).RootElement.GetProperty("local").GetString()!));
            string? line;
            do
                line = await serve.StandardOutput.ReadLineAsync(timeout.Token);
            while (line is not null && !line.Contains("\"connected\"", StringComparison.Ordinal));
            using (var kill = Process.Start("kill", ["-HUP", serve.Id.ToString()]))
                await kill!.WaitForExitAsync(timeout.Token);
            do
                line = await serve.StandardOutput.ReadLineAsync(timeout.Token);
            while (line is not null && !line.Contains("\"disconnected\"", StringComparison.Ordinal));
            Assert.Contains("\"reason\":\"server_stopping\"", line);
            await serve.WaitForExitAsync(timeout.Token);
            Assert.Equal(0, serve.ExitCode);
        }
        finally
        {
            if (!serve.HasExited)
                serve.Kill();
        }
    }

    [Fact]
    public async Task Serve_stops_when_its_stdout_loses_its_reader_saying_so()
    {
        // `ferry serve | head -1`: .NET ignores EPIPE on the console, so serve went on with every line lost and nothing said.
        if (!OperatingSystem.IsLinux())
            return;
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        using var serve = Process.Start(CliBinary.StartInfo("serve", "--bind", "127.0.0.1:0"))!;
        var stderr = serve.StandardError.ReadToEndAsync(timeout.Token);
        try
        {
            Assert.NotNull(await CliBinary.ReadUntilListeningAsync(serve, timeout.Token));
            serve.StandardOutput.Close(); // the pipe's reading end: the reader has gone
            await serve.WaitForExitAsync(timeout.Token);
            Assert.Equal(0, serve.ExitCode);
            Assert.Contains("ferry serve: stdout was closed (whatever read it has ended); stopping", await stderr);
        }
        finally
        {
            if (!serve.HasExited)
                serve.Kill();
        }
    }

    [Fact]
    public async Task Run_goes_on_when_its_stdout_loses_its_reader_saying_so_once()
    {
        if (!OperatingSystem.IsLinux())
            return;
        var file = Path.Combine(Directory.CreateTempSubdirectory("ferry-stdout-").FullName, "f.yaml");
        File.WriteAllText(file, "stages:\n  - {name: a, type: tcp_server, config: {bind: \"127.0.0.1:0\"}}\n");
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        using var run = Process.Start(CliBinary.StartInfo("run", file))!;
        var lines = new List<string>();
        var said = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        run.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is { } line)
                lock (lines)
                {
                    lines.Add(line);
                    if (line.Contains("ferry run: stdout was closed", StringComparison.Ordinal))
                        said.TrySetResult();
                }
        };
        run.BeginErrorReadLine();
        try
        {
            var listening = await CliBinary.ReadUntilListeningAsync(run, timeout.Token);
            Assert.NotNull(listening);
            var port = JsonDocument.Parse(listening).RootElement.GetProperty("local").GetString()!.Split(':')[^1];
            run.StandardOutput.Close();
            await said.Task.WaitAsync(timeout.Token);
            // Still serving: a client is taken (its lines go nowhere).
            using var client = new System.Net.Sockets.TcpClient();
            await client.ConnectAsync(IPAddress.Loopback, int.Parse(port, System.Globalization.CultureInfo.InvariantCulture), timeout.Token);
            Assert.False(run.HasExited);
            string[] seen;
            lock (lines)
                seen = [.. lines];
            Assert.EndsWith("event lines are lost from now on; the stages go on", Assert.Single(seen, l => l.Contains("stdout was closed", StringComparison.Ordinal)));
        }
        finally
        {
            if (!run.HasExited)
                run.Kill();
            Directory.Delete(Path.GetDirectoryName(file)!, recursive: true);
        }
    }

    [Fact]
    public async Task An_epoll_server_runs_no_thread_of_the_runtimes_socket_engine()
    {
        // The epoll transport watches its sockets itself. Its listening socket used to be a System.Net.Sockets.Socket,
        // whose creation starts the runtime's socket engine: one more thread (".NET Sockets") and epoll instance, idle
        // for the whole run, and a start that spun until that thread ran.
        if (!OperatingSystem.IsLinux())
            return;
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        using var serve = System.Diagnostics.Process.Start(CliBinary.StartInfo("serve", "--bind", "127.0.0.1:0", "--quiet"))!;
        try
        {
            var line = await CliBinary.ReadUntilListeningAsync(serve, timeout.Token);
            Assert.NotNull(line);
            var threads = Directory.GetDirectories($"/proc/{serve.Id}/task").Select(t => File.ReadAllText(Path.Combine(t, "comm")).Trim()).ToList();
            Assert.Contains(threads, t => t.StartsWith("ferry", StringComparison.Ordinal)); // the stage's service thread: the list is real
            Assert.DoesNotContain(".NET Sockets", threads);
        }
        finally
        {
            serve.Kill();
        }
    }

    [Fact]
    public async Task A_plain_server_does_not_load_OpenSSL_and_a_TLS_server_does()
    {
        // Checking whether epoll TLS could run here loaded libssl (and with it libcrypto) in every server, TLS or not: about
        // 2 MB more resident in an idle plain `ferry serve` (the native binary went from 10.3 to 12.5 MB).
        if (!OperatingSystem.IsLinux())
            return;
        var dir = Directory.CreateTempSubdirectory("ferry-nossl-");
        try
        {
            var ca = Path.Combine(dir.FullName, "ca");
            var cert = Path.Combine(dir.FullName, "server");
            foreach (var args in new[] { new[] { "cert", "ca", "--out", ca }, ["cert", "server", "--ca", ca, "--out", cert] })
            {
                var (code, _, stderr) = await CliBinary.RunAsync(args);
                Assert.True(code == 0, $"ferry {string.Join(' ', args)}: exit {code}: {stderr}");
            }
            Assert.DoesNotContain("libssl.so", await MapsWhenListeningAsync("serve", "--bind", "127.0.0.1:0", "--quiet"));
            // The same check sees OpenSSL where a server needs it: the maps read are the real ones.
            Assert.Contains("libssl.so", await MapsWhenListeningAsync("serve", "--bind", "127.0.0.1:0", "--quiet", "--transport", "epoll",
                "--tls-cert", cert + ".pem", "--tls-key", cert + ".key"));
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    /// <summary>The memory map (<c>/proc/PID/maps</c>) of a <c>ferry</c> process once it has said it is listening.</summary>
    private static async Task<string> MapsWhenListeningAsync(params string[] args)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        using var process = System.Diagnostics.Process.Start(CliBinary.StartInfo(args))!;
        try
        {
            var line = await CliBinary.ReadUntilListeningAsync(process, timeout.Token);
            if (line is null)
                Assert.Fail("ferry " + string.Join(' ', args) + " never listened: " + await process.StandardError.ReadToEndAsync(timeout.Token));
            return await File.ReadAllTextAsync($"/proc/{process.Id}/maps", timeout.Token);
        }
        finally
        {
            process.Kill();
        }
    }

    [Theory]
    [InlineData(new[] { "serve", "--idle-timeout", "NaN" }, "ferry serve: --idle-timeout 'NaN' is not a duration")]
    [InlineData(new[] { "serve", "--idle-timeout", "1e15s" }, "ferry serve: --idle-timeout '1e15s' is too long")]
    [InlineData(new[] { "serve", "--idle-timeout", "30" }, "ferry serve: --idle-timeout '30' has no unit: write 30s or 30ms")]
    [InlineData(new[] { "serve", "--group-linger", "1e300h" }, "ferry serve: --group-linger '1e300h' is too long")]
    [InlineData(new[] { "serve", "--idle-timeout", "0.5ms" }, "ferry serve: --idle-timeout '0.5ms' is below 1ms")]
    [InlineData(new[] { "bridge", "server", "127.0.0.1", "65535" }, "ferry bridge: PORT must be 1..65534")]
    [InlineData(new[] { "serv" }, "did you mean 'serve'?")]
    public async Task Invalid_arguments_exit_2_with_one_line(string[] args, string expected)
    {
        var (code, stdout, stderr) = await CliBinary.RunAsync(args);
        Assert.Equal(2, code);
        Assert.Equal("", stdout);
        var line = Assert.Single(stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Contains(expected, line);
    }

    [Theory]
    [InlineData("[suggest:12]", "serve --idle", "--idle-timeout")]
    [InlineData("[suggest:15]", "bridge --log-le", "--log-level")]
    [InlineData("[suggest:2]", "ch", "check")]
    public async Task Shell_completion_suggests_names(string directive, string line, string expected)
    {
        var (code, stdout, _) = await CliBinary.RunAsync([directive, line]);
        Assert.Equal(0, code);
        Assert.Contains(expected, stdout.Split('\n', StringSplitOptions.TrimEntries));
    }

    [Fact]
    public async Task Serve_exports_the_Ferry_meter_on_a_Prometheus_endpoint()
    {
        var metricsPort = FreePorts.One();
        var start = CliBinary.StartInfo("serve", "--bind", "127.0.0.1:0", "--quiet", "--metrics-listen", $"127.0.0.1:{metricsPort}");
        using var process = Process.Start(start)!;
        try
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            var line = await CliBinary.ReadUntilListeningAsync(process, timeout.Token);
            Assert.NotNull(line);
            var at = IPEndPoint.Parse(JsonDocument.Parse(line).RootElement.GetProperty("local").GetString()!);
            using var client = await FramedTestClient.ConnectAsync(at);
            using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
            await Poll.UntilAsync(() => http.GetStringAsync($"http://127.0.0.1:{metricsPort}/metrics").GetAwaiter().GetResult()
                .Split('\n').Any(l => l.StartsWith("ferry_tcp_connections_active{", StringComparison.Ordinal) && l.Contains("ferry_stage=\"tcp_server\"") && l.EndsWith(" 1", StringComparison.Ordinal)),
                "the connection on the scrape endpoint");
        }
        finally
        {
            if (!process.HasExited)
                process.Kill();
        }
    }

    [Fact]
    public async Task Console_logging_is_built_by_the_first_entry_not_at_start()
    {
        // Idle at the default level nothing is logged: no console logger, so no queue thread (issue 13, native idle memory).
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        using (var idle = Process.Start(CliBinary.StartInfo("serve", "--bind", "127.0.0.1:0", "--quiet"))!)
        {
            try
            {
                var line = await CliBinary.ReadUntilListeningAsync(idle, timeout.Token);
                Assert.NotNull(line);
                if (ThreadNames(idle.Id).Any(n => n.StartsWith("Console logger", StringComparison.Ordinal)))
                {
                    idle.Kill();
                    Assert.Fail($"an idle 'ferry serve' built its console logger; it wrote: {await idle.StandardError.ReadToEndAsync(timeout.Token)}");
                }
            }
            finally
            {
                if (!idle.HasExited)
                    idle.Kill();
            }
        }

        // A port that is taken: the stage logs an error each time it retries, and the first one builds the logger.
        using var taken = new System.Net.Sockets.TcpListener(IPAddress.Loopback, FreePorts.One());
        taken.Start();
        using var busy = Process.Start(CliBinary.StartInfo("serve", "--bind", $"127.0.0.1:{((IPEndPoint)taken.LocalEndpoint).Port}", "--quiet"))!;
        try
        {
            var error = await busy.StandardError.ReadLineAsync(timeout.Token);
            Assert.NotNull(error);
            Assert.Contains("cannot listen on", error);
            Assert.Contains(ThreadNames(busy.Id), n => n.StartsWith("Console logger", StringComparison.Ordinal));
        }
        finally
        {
            busy.Kill();
        }
    }

    private static string[] ThreadNames(int pid)
        => Directory.GetDirectories($"/proc/{pid}/task").Select(t => File.ReadAllText(Path.Combine(t, "comm")).TrimEnd('\n')).ToArray();

    [Fact]
    public async Task Check_reads_yaml_and_json_and_the_environment()
    {
        var (code, stdout, _) = await CliBinary.RunAsync(["check", RepoFiles.Path("examples/tcp-proxy.json")]);
        Assert.Equal(0, code);
        Assert.Contains("valid: 2 stages", stdout);

        (code, _, var stderr) = await CliBinary.RunAsync(["check", RepoFiles.Path("examples/seed004-node.yaml")],
            new Dictionary<string, string> { ["FERRY__stages__node__config__tls__secure"] = "true" });
        Assert.Equal(2, code);
        Assert.Contains("seed004-node.yaml:12:7: stages[0].config.tls.certificate: missing key 'certificate': a TLS server needs certificate_pem and private_key_pem (or certificate_file and private_key_file)", stderr);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)] // an OTLP collector that is not there: export fails quietly, the gateway runs and stops as usual
    public async Task Run_serves_the_seed_003_block_and_stops_gracefully_on_sigterm(bool otlp)
    {
        var file = RepoFiles.Path("examples/seed003-io-tcp.yaml");
        var bind = "tcp-server.config.bind=127.0.0.1:0";
        if (otlp)
        {
            file = Path.Combine(Path.GetTempPath(), $"ferry-otlp-{Guid.NewGuid():N}.yaml");
            File.WriteAllText(file, File.ReadAllText(RepoFiles.Path("examples/seed003-io-tcp.yaml")).Replace("- name:", "stages:\n- name:")
                + "telemetry:\n  otlp: {endpoint: \"http://127.0.0.1:9\", protocol: http_protobuf, interval: 100ms}\n");
            bind = "stages." + bind;
        }
        var start = CliBinary.StartInfo("run", file, "--set", bind);
        using var process = Process.Start(start)!;
        try
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            async Task<JsonElement> NextAsync(string type)
            {
                while (true)
                {
                    var line = await process.StandardOutput.ReadLineAsync(timeout.Token) ?? throw new EndOfStreamException($"no '{type}' line; stderr: {await process.StandardError.ReadToEndAsync()}");
                    var json = JsonDocument.Parse(line).RootElement;
                    if (LineWriter.Is(json, type))
                        return json;
                }
            }
            var listening = await NextAsync("listening");
            Assert.Equal("tcp-server", listening.GetProperty("stage").GetString());
            using var client = await FramedTestClient.ConnectAsync(IPEndPoint.Parse(listening.GetProperty("local").GetString()!));
            await client.SendAsync("over the wire\n");
            var packet = await NextAsync("packet");
            Assert.Equal("over the wire", packet.GetProperty("text").GetString());

            using (var kill = Process.Start("kill", ["-TERM", process.Id.ToString()]))
                await kill!.WaitForExitAsync(timeout.Token);
            Assert.Equal("server_stopping", (await NextAsync("disconnected")).GetProperty("reason").GetString());
            await NextAsync("closed");
            await process.WaitForExitAsync(timeout.Token);
            Assert.Equal(0, process.ExitCode);
        }
        finally
        {
            if (!process.HasExited)
                process.Kill();
            if (otlp)
                File.Delete(file);
        }
    }
}
