using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Ferry.Bridge;
using Ferry.Hosting.Settings;
using Microsoft.Extensions.Logging;

namespace Ferry.Cli;

/// <summary>
/// <c>ferry bridge server|client ADDR PORT [--echo] [--stop-grace-period DURATION]</c>: one end of a Rogue-compatible frame bridge.
/// Events go to stdout as JSON lines (<c>{"type":"ready"}</c>, <c>{"type":"frame",...}</c>), logs to
/// stderr; <c>--echo</c> sends every received frame back unchanged, metadata included.
/// </summary>
internal static class BridgeCommand
{
    /// <summary>Runs <c>ferry bridge</c> with <paramref name="args"/> (the words after <c>bridge</c>); returns the exit code.</summary>
    public static Task<int> RunAsync(string[] args, TextWriter stdout, TextWriter stderr, CancellationToken ct)
        => FerryCommand.RunAsync(["bridge", .. args], TextReader.Null, stdout, stderr, ct);

    internal static Command Create(CliIo io)
    {
        var role = new Argument<bool>("ROLE")
        {
            // A bool argument may be left out by default (a flag's value); the role is required, and help says so.
            Arity = ArgumentArity.ExactlyOne,
            Description = "server (binds PORT and PORT+1) or client (dials them)",
            CustomParser = r =>
            {
                if (r.Tokens.Count == 0)
                    return false;
                var text = r.Tokens[0].Value;
                if (text is "server" or "client")
                    return text == "server";
                r.AddError($"role must be 'server' or 'client', got '{text}'{Suggest.DidYouMean(text, ["server", "client"])}");
                return false;
            },
        };
        role.CompletionSources.Add("server", "client");
        var address = new Argument<string>("ADDR") { Description = "the address to bind (server) or dial (client)" };
        var port = new Argument<int>("PORT")
        {
            Description = "the first of the two ports (the bridge uses PORT and PORT+1)",
            CustomParser = r =>
            {
                var text = r.Tokens.Count > 0 ? r.Tokens[0].Value : "";
                if (int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var value) && value is >= 1 and <= 65534)
                    return value;
                r.AddError($"PORT must be 1..65534 (the bridge uses PORT and PORT+1), got '{text}'");
                return 0;
            },
        };
        var echo = CliOptions.Flag("--echo", "send every received frame back unchanged, metadata included");
        var quiet = CliOptions.Flag("--quiet", "print ready and closed, not a line per frame");
        var stats = CliOptions.Flag("--stats", "print a stats line once a second (frames and bytes each way, rates, drops, queued send bytes)");
        var stopGrace = CliOptions.Duration("--stop-grace-period", "at a stop (Ctrl+C, SIGTERM), how long queued frames may drain to the peers before connections close; a second signal cuts it short (default 1s)");
        var logLevel = CliOptions.LogLevel(LogLevel.Information);
        var logFormat = CliOptions.LogFormat();
        var command = new Command("bridge", "one end of a Rogue-compatible frame bridge (ZMTP PUSH/PULL on PORT and PORT+1); "
            + "prints {\"type\":\"ready\"} and one frame line per received frame")
        {
            role, address, port, echo, quiet, stats, stopGrace, logLevel, logFormat,
        };
        command.SetAction((result, ct) => RunAsync(result.GetValue(role), result.GetValue(address)!, result.GetValue(port),
            new Printing(result.GetValue(echo), result.GetValue(quiet), result.GetValue(stats)),
            result.TryGet(stopGrace, out var grace) ? grace : new FrameBridgeOptions().StopGracePeriod,
            result.ValueOr(logLevel, LogLevel.Information), result.ValueOr(logFormat, LogFormat.Plain), io, ct));
        return command;
    }

    /// <summary>
    /// A server's ADDR is resolved before anything is built, so that a name that does not resolve is said with the argument and the
    /// name (the resolver's own text was all there was): exit 2, a usage error, unless the resolver failed for the moment (exit 1, retry).
    /// A client resolves its ADDR at every attempt, as it may start before the name exists.
    /// </summary>
    private static (string Message, int Code)? ResolveProblem(string address)
    {
        try
        {
            Ferry.Bridge.Internal.BridgeAddress.ResolveForBind(address);
            return null;
        }
        catch (System.Net.Sockets.SocketException ex)
        {
            var usage = ex.SocketErrorCode is System.Net.Sockets.SocketError.HostNotFound or System.Net.Sockets.SocketError.NoData;
            return ($"ADDR '{address}' is not an address this machine can listen on ({ex.Message}); give an IP address of this machine, a name that resolves to one, or * for every interface",
                usage ? 2 : 1);
        }
        catch (ArgumentException)
        {
            return ($"ADDR '{address}' is not an address this machine can listen on (the name resolves to no address); give an IP address of this machine, a name that resolves to one, or * for every interface", 2);
        }
    }

    /// <summary>
    /// A client's ADDR that names no host to dial: <c>*</c> (a server's "every interface") or text that is neither an IP address
    /// nor a host name. A usage error (exit 2), said with the argument: the stage's own refusal came out as exit 1 naming
    /// <c>TcpClientStageOptions.Connect</c> of its PUSH stage.
    /// </summary>
    private static (string Message, int Code)? DialProblem(string address)
        => System.Net.IPAddress.TryParse(address.Trim('[', ']'), out _) || Ferry.Stages.Internal.HostNameText.IsValid(address)
            ? null
            : ($"ADDR '{address}' is not an address to connect to; give the server's IP address or host name, e.g. 127.0.0.1"
                + (address == "*" ? " (* is a server's: every interface)" : ""), 2);

    /// <summary>What the command does with frames and what it prints.</summary>
    private readonly record struct Printing(bool Echo, bool Quiet, bool Stats);

    private static async Task<int> RunAsync(bool isServer, string address, int port, Printing printing, TimeSpan stopGracePeriod,
        LogLevel logLevel, LogFormat logFormat, CliIo io, CancellationToken cancellationToken)
    {
        // SIGINT and SIGTERM stop the bridge gracefully (queued frames drain for the grace period), and a second one cuts
        // the drain short, as they stop `serve`.
        using var signals = new StopSignals(cancellationToken);
        var ct = signals.Stopping;
        // Its frame lines are what the command is for: once nobody reads them, it stops, saying so.
        _ = StdoutWatch.WatchAsync(io, () =>
        {
            io.Stderr.WriteLine("ferry bridge: stdout was closed (whatever read it has ended); stopping");
            signals.Stop();
        }, ct);
        var stdout = io.Stdout;
        var stderr = io.Stderr;
        using var loggerFactory = CliLogging.Create(logLevel, logFormat, stderr);
        // The line below says a bind the end gave up on; the inner stage's log entry of it would say it again (naming PUSH or PULL).
        using var stageLogs = new Pipeline.BindGiveUpLogFilter(loggerFactory);
        // Every handler of the end's stages is Ferry's own here (FrameBridgeOptions.ReportSlowHandlers).
        var options = new FrameBridgeOptions { LoggerFactory = stageLogs, StopGracePeriod = stopGracePeriod, ReportSlowHandlers = false };
        if ((isServer ? ResolveProblem(address) : DialProblem(address)) is { } problem)
        {
            stderr.WriteLine($"ferry bridge: {problem.Message}");
            return problem.Code;
        }
        IFrameBridge bridge;
        try
        {
            bridge = isServer ? new FrameBridgeServer(address, port, options) : new FrameBridgeClient(address, port, options);
        }
        catch (Exception e) when (e is InvalidOperationException or ArgumentException or System.Net.Sockets.SocketException)
        {
            stderr.WriteLine($"ferry bridge: {e.Message}");
            return 1;
        }

        await using (bridge.ConfigureAwait(false))
        {
            var output = new JsonLines(stdout);
            Task announcing = AnnounceReadyAsync(bridge, output, loggerFactory.CreateLogger("Ferry.Cli"), ct);
            Task printingStats = printing.Stats ? PrintStatsAsync(bridge, output, ct) : Task.CompletedTask;
            try
            {
                // Both run inline on the bridge's receiving thread (FrameFlow): a quiet echo is the bridge
                // piped into itself, lent the received bytes, with no queue and no thread hop.
                if (printing.Echo && printing.Quiet)
                    await bridge.PipeToAsync(bridge, ct).ConfigureAwait(false);
                else
                    await bridge.PipeToAsync((frame, token) => OnFrame(bridge, output, printing, frame, token), ct).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
            }

            var dropped = DroppedBytes(bridge);
            var before = dropped();
            await bridge.StopAsync(signals.Forced).ConfigureAwait(false);
            await announcing.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            await printingStats.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            output.Write(JsonSerializer.Serialize(new ClosedLine(), CliJsonContext.Default.ClosedLine));
            ReportDropped(dropped() - before, stderr);
        }

        return 0;
    }

    /// <summary>The egress bytes dropped so far by the end's PUSH stage, which holds the frames queued for the peers.</summary>
    private static Func<long> DroppedBytes(IFrameBridge bridge) => bridge switch
    {
        FrameBridgeServer server => () => server.PushStage.GetStats().EgressBytesDroppedTotal,
        FrameBridgeClient client => () => client.PushStage.GetStats().EgressBytesDroppedTotal,
        _ => static () => 0,
    };

    /// <summary>
    /// One stderr line when the stop dropped queued frames (the grace period ran out, or a second signal came), naming the
    /// flag that sets the grace period, as <c>ferry serve</c>'s stop line does: otherwise the frames would be gone unsaid.
    /// </summary>
    private static void ReportDropped(long bytes, TextWriter stderr)
    {
        if (bytes <= 0)
            return;
        JsonStderrWriter.Line(stderr, LogLevel.Warning, $"ferry bridge: the stop dropped {bytes} bytes of queued frames that could not be written within its "
            + "--stop-grace-period (or before a second signal)");
        stderr.Flush();
    }

    private static ValueTask OnFrame(IFrameBridge bridge, JsonLines output, Printing printing, Frame frame, CancellationToken ct)
    {
        // A frame can beat the announcer's continuation; keep "ready" first when it is true.
        if (bridge.IsReady)
            output.AnnounceReady();
        if (!printing.Quiet)
            output.Write(JsonSerializer.Serialize(new FrameLine(frame.Flags, frame.Channel, frame.Error, frame.Payload.Length), CliJsonContext.Default.FrameLine));
        return printing.Echo ? bridge.SendAsync(frame, ct) : ValueTask.CompletedTask;
    }

    /// <summary>One <c>stats</c> line a second: totals, rates over the last interval, drops and queued send bytes.</summary>
    private static async Task PrintStatsAsync(IFrameBridge bridge, JsonLines output, CancellationToken ct)
    {
        using var timer = new PeriodicTimer(TimeSpan.FromSeconds(1));
        var last = Snapshot.Of(bridge.Counters);
        var lastAt = System.Diagnostics.Stopwatch.GetTimestamp();
        while (await timer.WaitForNextTickAsync(ct).ConfigureAwait(false))
        {
            var now = Snapshot.Of(bridge.Counters);
            var at = System.Diagnostics.Stopwatch.GetTimestamp();
            var seconds = System.Diagnostics.Stopwatch.GetElapsedTime(lastAt, at).TotalSeconds;
            double Rate(long a, long b) => seconds > 0 ? Math.Round((b - a) / seconds, 1) : 0;
            var c = bridge.Counters;
            output.Write(JsonSerializer.Serialize(new BridgeStatsLine(bridge.IsReady, now.FramesIn, now.BytesIn, now.FramesOut, now.BytesOut,
                Rate(last.FramesIn, now.FramesIn), Rate(last.BytesIn, now.BytesIn), Rate(last.FramesOut, now.FramesOut), Rate(last.BytesOut, now.BytesOut),
                c.MessagesDropped, c.Connections, bridge.PendingSendBytes, Environment.WorkingSet), CliJsonContext.Default.BridgeStatsLine));
            last = now;
            lastAt = at;
        }
    }

    private readonly record struct Snapshot(long FramesIn, long BytesIn, long FramesOut, long BytesOut)
    {
        public static Snapshot Of(FrameBridgeCounters c) => new(c.FramesReceived, c.BytesReceived, c.FramesSent, c.BytesSent);
    }

    private static async Task AnnounceReadyAsync(IFrameBridge bridge, JsonLines output, ILogger logger, CancellationToken ct)
    {
        await bridge.WaitReadyAsync(ct).ConfigureAwait(false);
        output.AnnounceReady();
        await StartupPages.ReleaseWhenSettledAsync(logger, ct).ConfigureAwait(false);
    }

    /// <summary>Serialises event lines from the ready announcer and the frame loop.</summary>
    private sealed class JsonLines(TextWriter writer)
    {
        private readonly Lock _lock = new();
        private bool _announcedReady;

        public void AnnounceReady()
        {
            lock (_lock)
            {
                if (_announcedReady)
                    return;
                _announcedReady = true;
                Write(JsonSerializer.Serialize(new ReadyLine(), CliJsonContext.Default.ReadyLine));
            }
        }

        public void Write(string line)
        {
            lock (_lock)
            {
                writer.WriteLine(line);
                writer.Flush();
            }
        }
    }
}
