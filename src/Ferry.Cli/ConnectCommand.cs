using System.CommandLine;
using System.Runtime.InteropServices;
using System.Text;
using Ferry.Bus;
using Ferry.Framing;
using Ferry.Hosting.Telemetry;
using Ferry.Stages;
using Microsoft.Extensions.Logging;

namespace Ferry.Cli;

/// <summary><c>ferry connect HOST:PORT</c>: one client stage; stdin lines go out as messages, what arrives is printed as JSON lines.</summary>
internal static class ConnectCommand
{
    public static Command Create(CliIo io)
    {
        var remote = new Argument<string>("HOST:PORT") { Description = "the server to dial (names are resolved at every attempt)" };
        var framing = CliOptions.Framing();
        var reconnectWait = CliOptions.PositiveDuration("--reconnect-wait", "first wait before reconnecting, doubled per failure (default 1s)");
        var reconnectMaxWait = CliOptions.PositiveDuration("--reconnect-max-wait", "cap of the wait (default 30s)");
        var idleTimeout = CliOptions.Duration("--idle-timeout", "reconnect when nothing arrives this long; 0 = never (default 0)");
        var connectTimeout = CliOptions.PositiveDuration("--connect-timeout", "limit of resolving the name, and of the connect to each of its addresses (default 10s)");
        var closeLinger = CliOptions.Duration("--close-linger", "when the connection is closed, its socket waits this long for the server to take what "
            + "it is owed and close (its bytes are discarded meanwhile); 0 = close at once, a reset if its bytes are unread (default 2s)");
        var egressBuffer = CliOptions.Size("--egress-buffer", 1, "bytes of framed lines that may wait for the server, and be held while "
            + "disconnected; the longest line it takes, e.g. 1048576 or 64KiB (default 1MiB)");
        var stopGrace = CliOptions.Duration("--stop-grace-period", "at a stop (Ctrl+C, SIGTERM), how long lines queued for the server may drain before the connection closes; a second signal cuts it short (default 5s)");
        var quiet = CliOptions.Flag("--quiet", "print events, not packets");
        var logLevel = CliOptions.LogLevel(LogLevel.Warning);
        var logFormat = CliOptions.LogFormat();
        var command = new Command("connect", "dial a TCP server, send each stdin line as one message (encoded with the framing), "
            + "print what arrives as JSON lines (connecting, connect_failed, connected, packet, disconnected, error, stats, closed); reconnects with back-off")
        {
            remote, framing, reconnectWait, reconnectMaxWait, idleTimeout, connectTimeout, closeLinger, egressBuffer, stopGrace, quiet, logLevel, logFormat,
        };
        var tls = new TlsFlags(server: false);
        tls.AddTo(command);
        // Every problem of the flags together, as ferry serve gathers them (CommandChecks runs this beside the parse errors too).
        TcpClientStageOptions Read(ParseResult result)
        {
            var options = new TcpClientStageOptions { Connect = result.GetValue(remote)! };
            var problems = new CommandChecks.Gathered();
            var (transport, tlsOptions) = problems.Take(() => tls.Read(result), (Ferry.Transport.StageTransport.Auto, null));
            options = options with { Transport = transport, Tls = tlsOptions };
            if (result.TryGet(framing, out var f)) options = options with { Framing = f };
            options = problems.Take(() => ReconnectWaits(result, options, reconnectWait, reconnectMaxWait), options);
            if (result.TryGet(idleTimeout, out var it)) options = options with { IdleTimeout = it };
            if (result.TryGet(connectTimeout, out var cto)) options = options with { ConnectTimeout = cto };
            if (result.TryGet(closeLinger, out var cl)) options = options with { CloseLinger = cl };
            if (result.TryGet(egressBuffer, out var eb)) options = options with { EgressBufferBytes = eb };
            if (result.TryGet(stopGrace, out var sg)) options = options with { StopGracePeriod = sg };
            try
            {
                options.Validate();
            }
            catch (StageOptionsException ex)
            {
                // The command's one stage: its name would only be noise. The remote address is the HOST:PORT argument.
                problems.Add(OptionFlagProblems.Each(ex, command, new Dictionary<string, string> { ["connect"] = "HOST:PORT" }));
            }
            problems.ThrowIfAny();
            return options;
        }
        CommandChecks.Add(command, result => Read(result));
        command.SetAction((result, ct) =>
        {
            var options = Read(result);
            return RunAsync(options, io, result.GetValue(quiet), result.ValueOr(logLevel, LogLevel.Warning), result.ValueOr(logFormat, LogFormat.Plain), ct);
        });
        return command;
    }

    /// <summary>
    /// The first wait and the cap: both given, the first must not exceed the cap (one was mistyped; neither is silently
    /// changed). One given, the default of the other gives way to it (<c>--reconnect-wait 1m</c> alone raises the 30 s cap).
    /// </summary>
    private static TcpClientStageOptions ReconnectWaits(ParseResult result, TcpClientStageOptions options, Option<TimeSpan> wait, Option<TimeSpan> maxWait)
    {
        var givenWait = result.TryGet(wait, out var w);
        var givenMax = result.TryGet(maxWait, out var m);
        if (givenWait && givenMax && m < w)
            throw new CliException($"--reconnect-wait {result.Written(wait)} is longer than --reconnect-max-wait {result.Written(maxWait)}; "
                + "the first wait must not be above the cap: lower --reconnect-wait or raise --reconnect-max-wait");
        if (givenWait)
            options = options with { ReconnectWait = w, ReconnectMaxWait = givenMax ? m : TimeSpan.FromTicks(Math.Max(w.Ticks, options.ReconnectMaxWait.Ticks)) };
        else if (givenMax)
            options = options with { ReconnectMaxWait = m, ReconnectWait = TimeSpan.FromTicks(Math.Min(m.Ticks, options.ReconnectWait.Ticks)) };
        return options;
    }

    private static async Task<int> RunAsync(TcpClientStageOptions options, CliIo io, bool quiet, LogLevel logLevel, LogFormat logFormat, CancellationToken cancellationToken)
    {
        TextReader stdin = io.Stdin;
        using var loggerFactory = CliLogging.Create(logLevel, logFormat, io.Stderr);
        using var output = new JsonLineWriter(io.Stdout);
        await using var stage = TlsFlags.Build(() => new TcpClientStage(options, new InProcessBus(), loggerFactory), options.Tls);
        using var metrics = FerryMetrics.Track(stage);
        StageJsonPrinter.Attach(stage, output, printPackets: !quiet);

        // The first signal stops gracefully (lines queued for the server drain); the next one cuts the grace period short.
        using var signals = new StopSignals(cancellationToken);
        var stop = signals.Stopping;
        var dropped = new DroppedLines(() => stage.GetStats().EgressPacketsDroppedTotal, why => output.Error(why), options.EgressBufferBytes, TimeProvider.System);
        stage.Start();
        // What the server sends is printed on stdout: once nobody reads it, connect stops, saying so, as serve does.
        _ = StdoutWatch.WatchAsync(io, () =>
        {
            io.Stderr.WriteLine("ferry connect: stdout was closed (whatever read it has ended); stopping");
            signals.Stop();
        }, stop);
        // A line longer than the egress buffer could never be sent whole, so no more of it is kept: without a bound, stdin
        // with no newline (a binary file under raw framing, /dev/zero) grew memory without end.
        var maxLineChars = options.EgressBufferBytes;
        var reader = new BoundedLineReader(stdin, maxLineChars);
        _ = Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                string? line;
                long tooLong;
                try { (line, tooLong) = await reader.ReadLineAsync(stop).ConfigureAwait(false); }
                catch (OperationCanceledException) { return; }
                if (tooLong > 0)
                {
                    output.Error($"stdin line of {tooLong} characters is longer than the {maxLineChars} allowed (the egress buffer); not sent: "
                        + "shorten it or raise --egress-buffer");
                    continue;
                }
                if (line is null)
                    return; // end of input: keep receiving until stopped
                try
                {
                    var payload = Encoding.UTF8.GetBytes(line);
                    dropped.Sending();
                    var taken = await stage.SendAsync(payload, default, stop).ConfigureAwait(false);
                    dropped.Sent(taken, taken ? null : DroppedLine.Explain(stage, payload.Length, stop.IsCancellationRequested));
                }
                catch (FramingException ex)
                {
                    dropped.Sent(true, null); // refused before the stage counted it
                    output.Error("cannot frame that line: " + ex.Message);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
            }
        }, CancellationToken.None);
        try
        {
            using var ticks = new PeriodicTimer(DroppedLines.Interval);
            while (await ticks.WaitForNextTickAsync(stop).ConfigureAwait(false))
                dropped.Tick();
        }
        catch (OperationCanceledException)
        {
        }
        // What the stop dropped (held lines with no server to take them, queued ones the grace period did not drain) is
        // said by the account, with the stage's last totals: the periodic stats end with the stop.
        var account = new StopAccount();
        account.Add(null, stage.GetStats, () => stage.Core.StopDropped, () => stage.Core.IngressStopDropped);
        await stage.StopAsync(signals.Forced).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        account.Report("ferry connect", "--stop-grace-period", output, io.Stderr);
        output.Flush();
        return 0;
    }
}
