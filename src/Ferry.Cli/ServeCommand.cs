using System.CommandLine;
using System.Runtime.InteropServices;
using Ferry.Bus;
using Ferry.Cli.Pipeline;
using Ferry.Framing;
using Ferry.Hosting.Telemetry;
using Ferry.Stages;
using Microsoft.Extensions.Logging;

namespace Ferry.Cli;

/// <summary><c>ferry serve</c>: one server stage on the in-process bus, its life printed as JSON lines.</summary>
internal static class ServeCommand
{
    private const string Epilog = """
        output: one JSON object per line on stdout: listening, connected, packet, disconnected, error, stats, closed
        input: one JSON command per line on stdin, e.g. {"type":"send","conn":"…","text":"hi"}; also send_any
          (one connection, round-robin), broadcast (text|base64, except), group_send (group), join/leave (conn, group), close (conn, reason, code), connections
        """;

    public static Command Create(CliIo io)
    {
        var bind = new Option<string>("--bind") { Description = "host:port, :port or [ipv6]:port (default 127.0.0.1:9000; port 0 = any free port)", HelpName = "ADDR" };
        var maxConnections = CliOptions.Int("--max-connections", 0, int.MaxValue, "simultaneous clients, 0 = unlimited (default 128)");
        var backlog = CliOptions.Int("--backlog", 1, 65535, "pending connections the kernel queues before accept (default 512)");
        var idleTimeout = CliOptions.Duration("--idle-timeout", "disconnect clients silent this long, e.g. 30s, 500ms; 0 = never (default 0)");
        var halfCloseLinger = CliOptions.Duration("--half-close-linger", "keep a client that shut down its sending side (FIN) open this long for answers; 0 = close once what is queued is written (default 0)");
        var closeLinger = CliOptions.Duration("--close-linger", "a closed client's socket waits this long for it to take what it is owed and close (its bytes are discarded meanwhile); 0 = close at once, a reset if its bytes are unread (default 2s)");
        var stopGrace = CliOptions.Duration("--stop-grace-period", "at a stop (Ctrl+C, SIGTERM), how long queued egress may drain before connections close; a second signal cuts it short (default 5s)");
        var groupSize = CliOptions.Int("--group-size", 1, 65536, "packets per published group (default 1)");
        var groupLinger = CliOptions.Duration("--group-linger", "publish a partial group this long after its first packet; 0 = at once (default 1ms)");
        var framing = CliOptions.Framing();
        var egressBuffer = CliOptions.Size("--egress-buffer", 1, "egress bytes a client may have waiting, e.g. 1048576 or 64KiB (default 1MiB)");
        var frameTimeout = CliOptions.Duration("--frame-timeout", "close a client whose started frame is not complete this long after its first byte; 0 = never (default 30s)");
        var maxPending = CliOptions.Size("--max-pending-bytes", 0, "bytes all unfinished frames together may hold; a client that would exceed it is closed (memory_limit); 0 = no limit (default 64MiB)");
        var maxGroups = CliOptions.Int("--max-groups-per-connection", 0, int.MaxValue, "named groups one client may be in; a join beyond it is refused; 0 = unlimited (default 1024)");
        var maxGroupName = CliOptions.Int("--max-group-name-length", 1, StageOptionChecks.LongestGroupNameLimit, "longest group name a join takes, in characters (default 256)");
        var bindAttempts = CliOptions.Int("--bind-attempts", 0, int.MaxValue, "bind attempts before giving up with exit code 1; 0 = retry forever (default 0)");
        var echo = CliOptions.Flag("--echo", "send every packet back to the connection it came from");
        var quiet = CliOptions.Flag("--quiet", "print events and stats, not packets");
        var statsConnections = CliOptions.Flag("--stats-connections", "add the per-connection table to every stats line");
        var overflow = CliOptions.Choice("--egress-overflow", "POLICY", "a slow client's full buffer: drop (default), disconnect or wait",
            ("drop", EgressOverflowPolicy.Drop), ("disconnect", EgressOverflowPolicy.Disconnect), ("wait", EgressOverflowPolicy.Wait));
        var queue = CliOptions.Int("--queue-when-disconnected", 0, 1_000_000, "keep up to N broadcasts (and at most --egress-buffer bytes, oldest dropped first) while nobody is connected, for the first client");
        var metricsListen = new Option<System.Net.IPEndPoint>("--metrics-listen")
        {
            Description = "serve the Ferry meter on a Prometheus scrape endpoint, e.g. 127.0.0.1:9464 (http://…/metrics)",
            HelpName = "ADDR",
            CustomParser = r =>
            {
                var text = r.Tokens.Count > 0 ? r.Tokens[0].Value : "";
                if (PipelineTelemetry.ListenProblem(text) is not { } problem)
                    return System.Net.IPEndPoint.Parse(text);
                r.AddError($"--metrics-listen '{text}' {problem}");
                return null!;
            },
        };
        var logLevel = CliOptions.LogLevel(LogLevel.Warning);
        var logFormat = CliOptions.LogFormat();
        var command = new Command("serve", "run a TCP server stage and print what arrives as JSON lines\n\n" + Epilog)
        {
            bind, maxConnections, backlog, idleTimeout, halfCloseLinger, closeLinger, stopGrace, frameTimeout, maxPending, maxGroups, maxGroupName, groupSize, groupLinger, framing, egressBuffer, bindAttempts,
            echo, quiet, statsConnections, overflow, queue, metricsListen, logLevel, logFormat,
        };
        var nats = new NatsServeOptions();
        nats.AddTo(command);
        var tls = new TlsFlags(server: true);
        tls.AddTo(command);
        var proxy = new ProxyFlags();
        proxy.AddTo(command);
        // Every problem of the flags together is gathered, so that one try tells them all: a TLS fault does not hide a bad
        // --bind, nor a bad value the rest (CommandChecks runs this beside the parse errors too).
        (TcpServerStageOptions Stage, Ferry.Nats.NatsGatewayOptions? Nats) Read(ParseResult result)
        {
            var options = new TcpServerStageOptions();
            if (result.TryGet(bind, out var b)) options = options with { Bind = b };
            if (result.TryGet(maxConnections, out var m)) options = options with { MaxConnections = m };
            if (result.TryGet(backlog, out var bl)) options = options with { Backlog = bl };
            if (result.TryGet(idleTimeout, out var it)) options = options with { IdleTimeout = it };
            if (result.TryGet(halfCloseLinger, out var hl)) options = options with { HalfCloseLinger = hl };
            if (result.TryGet(closeLinger, out var cl)) options = options with { CloseLinger = cl };
            if (result.TryGet(stopGrace, out var sg)) options = options with { StopGracePeriod = sg };
            if (result.TryGet(frameTimeout, out var ft)) options = options with { FrameTimeout = ft };
            if (result.TryGet(maxPending, out var mp)) options = options with { MaxPendingBytes = mp };
            if (result.TryGet(maxGroups, out var mg)) options = options with { MaxGroupsPerConnection = mg };
            if (result.TryGet(maxGroupName, out var mn)) options = options with { MaxGroupNameLength = mn };
            if (result.TryGet(groupSize, out var gs)) options = options with { GroupSize = gs };
            if (result.TryGet(groupLinger, out var gl)) options = options with { GroupLinger = gl };
            if (result.TryGet(framing, out var f)) options = options with { Framing = f };
            if (result.TryGet(egressBuffer, out var eb)) options = options with { EgressBufferBytes = eb };
            if (result.TryGet(bindAttempts, out var ba)) options = options with { BindAttempts = ba };
            if (result.TryGet(overflow, out var o)) options = options with { EgressOverflow = o };
            if (result.TryGet(queue, out var q)) options = options with { QueueWhenDisconnected = q };
            var problems = new CommandChecks.Gathered();
            var (transport, tlsOptions) = problems.Take(() => tls.Read(result), (Ferry.Transport.StageTransport.Auto, null));
            options = options with { Transport = transport, Tls = tlsOptions };
            options = problems.Take(() => proxy.Apply(result, options), options);
            try
            {
                options.Validate();
            }
            catch (StageOptionsException ex)
            {
                problems.Add(OptionFlagProblems.Each(ex, command)); // the command's one stage: its name would only be noise
            }
            // A name that does not resolve would be retried for ever (--bind-attempts 0): a usage error, said before anything starts.
            if (!problems.Names("--bind") && BindHostCheck.Problem(options.Bind, out var host) is { } unresolved)
                problems.Add([$"--bind '{options.Bind}' names the host '{host}', which {unresolved}"]);
            var natsOptions = problems.Take(() => nats.Read(result, options.Name), null);
            problems.ThrowIfAny();
            return (options, natsOptions);
        }
        CommandChecks.Add(command, result => Read(result));
        command.SetAction(async (result, ct) =>
        {
            var (options, natsOptions) = Read(result);
            var telemetry = result.TryGet(metricsListen, out var listen) ? TelemetryDefinition.None with { PrometheusListen = listen.ToString() } : TelemetryDefinition.None;
            return await RunAsync(options, natsOptions, io, result.GetValue(echo), result.GetValue(quiet), result.GetValue(statsConnections), telemetry,
                result.ValueOr(logLevel, LogLevel.Warning), result.ValueOr(logFormat, LogFormat.Plain), ct).ConfigureAwait(false);
        });
        return command;
    }

    private static async Task<int> RunAsync(TcpServerStageOptions options, Ferry.Nats.NatsGatewayOptions? natsOptions, CliIo io, bool echo, bool quiet, bool statsConnections,
        TelemetryDefinition telemetry, LogLevel logLevel, LogFormat logFormat, CancellationToken cancellationToken)
    {
        using var loggerFactory = CliLogging.Create(logLevel, logFormat, io.Stderr);
        using var output = new JsonLineWriter(io.Stdout);
        var bus = new InProcessBus();
        // Built first: its TLS files are loaded here, and a fault in them is a usage error before anything listens.
        await using var stage = TlsFlags.Build(() => new TcpServerStage(options, bus, loggerFactory), options.Tls);
        IDisposable? exporter;
        try
        {
            exporter = PipelineTelemetry.Start(telemetry, loggerFactory, "--metrics-listen");
        }
        catch (MetricsEndpointException ex)
        {
            // Like a bind the stage gives up on: the environment, not the command line, so exit 1; the stage never started.
            io.Stderr.WriteLine($"ferry serve: {ex.Message}");
            return 1;
        }
        using var metricsExport = exporter;
        using var metrics = FerryMetrics.Track(stage);
        StageJsonPrinter.Attach(stage, output, printPackets: !quiet, statsConnections);
        IDisposable? echoing = echo ? EchoRoute.Attach(bus, options.Name) : null;

        // The first signal stops gracefully; the next one cuts the grace period short.
        using var signals = new StopSignals(cancellationToken);

        var (natsOk, gateway) = await NatsServeOptions.StartAsync(natsOptions, stage, loggerFactory, io.Stderr, cancellationToken).ConfigureAwait(false);
        if (!natsOk)
            return 1;
        await using var natsGateway = gateway;
        using var natsMetrics = gateway is null ? null : NatsGatewayMetrics.Track(options.Name, gateway);

        // A bind that runs out of attempts stops the stage: that ends the command too, with exit code 1.
        var exitCode = 0;
        stage.Start();
        _ = WatchBindAsync(stage, signals, () => exitCode = 1, loggerFactory.CreateLogger("Ferry.Cli"));
        // Its lines are what serve is for: once nobody reads them (| head -1 ended), it stops, saying so, as a pipe's writer does.
        _ = StdoutWatch.WatchAsync(io, () =>
        {
            io.Stderr.WriteLine("ferry serve: stdout was closed (whatever read it has ended); stopping");
            signals.Stop();
        }, signals.Stopping);
        // Commands are read on their own task; end of input leaves the server running.
        _ = Task.Run(() => new StdinCommands(stage, output).RunAsync(io.Stdin, signals.Stopping), CancellationToken.None);
        try
        {
            await Task.Delay(Timeout.Infinite, signals.Stopping).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }
        var account = new StopAccount();
        account.Add(null, stage.GetStats, () => stage.Core.StopDropped, () => stage.Core.IngressStopDropped);
        await stage.StopAsync(signals.Forced).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        account.Report("ferry serve", "--stop-grace-period", output, io.Stderr);
        echoing?.Dispose();
        output.Flush();
        return exitCode;
    }

    private static async Task WatchBindAsync(TcpServerStage stage, StopSignals signals, Action failed, ILogger logger)
    {
        try
        {
            await stage.WaitListeningAsync(signals.Stopping).ConfigureAwait(false);
            await StartupPages.ReleaseWhenSettledAsync(logger, signals.Stopping).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }
        catch (Exception)
        {
            failed();
            signals.Stop();
        }
    }
}
