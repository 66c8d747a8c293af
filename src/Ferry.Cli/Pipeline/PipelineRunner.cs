using System.Runtime.InteropServices;
using System.Text.Json;
using Ferry.Bridge;
using Ferry.Hosting.Settings;
using Ferry.Hosting.Telemetry;
using Ferry.Nats;
using Ferry.Stages;
using Microsoft.Extensions.Logging;

namespace Ferry.Cli.Pipeline;

/// <summary>
/// Runs a validated pipeline: creates the bus, every stage, the routes and the metrics export, then
/// starts the stages in file order (each server listening before the next starts; on a <c>nats</c> bus each server's
/// NATS gateway connects before its stage starts), and on Ctrl+C or SIGTERM stops them all at once, so
/// that accepting stops everywhere together and the drains run side by side (the stop lasts the longest
/// grace period); a second Ctrl+C or SIGTERM cuts the grace periods short. When any stage cannot start
/// (a server binds once unless its block sets <c>bind_attempts</c>), the ones already started are stopped
/// and the command exits 1: nothing is left half-started. A client stage that gives up (<c>reconnect_attempts</c>)
/// stops them all the same way, with exit code 1.
/// </summary>
internal static class PipelineRunner
{
    public static async Task<int> RunAsync(PipelineDefinition pipeline, CliIo io, bool quiet, ILoggerFactory loggerFactory, CancellationToken cancellationToken)
    {
        using var output = new JsonLineWriter(io.Stdout);
        var bus = pipeline.Bus.Create();
        var servers = new Dictionary<string, TcpServerStage>(StringComparer.Ordinal);
        var clients = new Dictionary<string, TcpClientStage>(StringComparer.Ordinal);
        var bridges = new List<(string Name, IFrameBridge Bridge)>();
        var disposables = new List<IDisposable>();
        var books = new List<(string Upstream, ReplyBook Book)>();
        // The first signal stops gracefully; the next one cuts the grace periods short.
        using var signals = new StopSignals(cancellationToken);
        var exitCode = 0;
        var gaveUp = 0;
        var started = new List<Func<CancellationToken, Task>>();
        var attempted = new HashSet<string>(StringComparer.Ordinal); // the stages whose start was begun, in file order
        // A server's bind or a client's connecting given up is said once on each stream: on stdout by the stage's own error line
        // (stage, kind, address, why), on stderr by run's line below, not by the stage's log entry as well (BindGiveUpLogFilter).
        using var stageLogs = new BindGiveUpLogFilter(loggerFactory);
        try
        {
            // Every address that would fail at its one bind, before anything starts (the stages before it would serve, then stop).
            if (BindPreflight.Problems(pipeline) is { Count: > 0 } unbindable)
            {
                // A server stage's bind error on stdout, as the stage itself prints it (machine-readable: stage, kind, message).
                foreach (var problem in unbindable.Where(p => p.IsServerStage))
                    output.Write(new ErrorLine("bind", problem.Message, null, null) { Stage = problem.Stage }, CliJsonContext.Default.ErrorLine);
                throw new IOException(string.Join("; ", unbindable));
            }
            foreach (var declaration in pipeline.Stages)
            {
                switch (declaration)
                {
                    case ServerStageDeclaration server:
                        var s = new TcpServerStage(server.Options, bus, stageLogs);
                        servers.Add(server.Name, s);
                        StageJsonPrinter.Attach(s, output, printPackets: !quiet, tag: server.Name);
                        disposables.Add(FerryMetrics.Track(s));
                        break;
                    case ClientStageDeclaration client:
                        var c = new TcpClientStage(client.Options, bus, stageLogs);
                        clients.Add(client.Name, c);
                        StageJsonPrinter.Attach(c, output, printPackets: !quiet, tag: client.Name);
                        disposables.Add(FerryMetrics.Track(c));
                        break;
                }
            }
            foreach (var route in pipeline.Routes.Where(r => r.Target != RouteTarget.Reply))
            {
                // Validation made a reply route's 'from' a client stage fed by this one route only.
                if (pipeline.Routes.FirstOrDefault(r => r.Target == RouteTarget.Reply && r.From == route.To && r.To == route.From) is { } reply)
                {
                    var book = new ReplyBook(new ReplyLoss(route.To, route.From, m => output.StageError(route.To, "reply", m), TimeProvider.System));
                    books.Add((route.To, book));
                    disposables.Add(ReplyMetrics.Track(route.To, route.From, book));
                    disposables.Add(RouteWiring.AttachRequests(bus, route, servers[route.From], clients[route.To], book));
                    disposables.Add(RouteWiring.AttachAnswers(bus, reply, servers[reply.To], book));
                }
                else
                {
                    disposables.Add(RouteWiring.Attach(bus, route, servers.ContainsKey(route.To)));
                }
            }
            disposables.Add(PipelineTelemetry.Start(pipeline.Telemetry, loggerFactory) ?? new CancellationTokenSource());

            foreach (var declaration in pipeline.Stages)
            {
                // A server stage on NATS is begun once its gateway has started: one whose gateway could not start never ran
                // (no closed line), so it gets no totals either.
                if (declaration is not ServerStageDeclaration)
                    attempted.Add(declaration.Name);
                switch (declaration)
                {
                    case ServerStageDeclaration server:
                        var stage = servers[server.Name];
                        if (pipeline.Bus.Nats is { } nats)
                        {
                            // Before the stage, so nothing it reads is published before NATS has the gateway; disposed after it stops.
                            var gateway = new NatsGateway(stage, nats, loggerFactory);
                            disposables.Add(NatsGatewayMetrics.Track(server.Name, gateway));
                            // A gateway whose start failed has stopped already: counted as started only once it has, so that
                            // a broker nobody could reach is said as "nothing had started", not "stopping what had started".
                            await gateway.StartAsync(signals.Stopping).ConfigureAwait(false);
                            started.Add(async forced =>
                            {
                                await stage.StopAsync(forced).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
                                await gateway.DisposeAsync().ConfigureAwait(false);
                            });
                        }
                        else
                        {
                            started.Add(forced => stage.StopAsync(forced));
                        }
                        attempted.Add(server.Name);
                        await stage.StartAsync(signals.Stopping).ConfigureAwait(false);
                        break;
                    case ClientStageDeclaration client:
                        var c = clients[client.Name];
                        started.Add(forced => c.StopAsync(forced));
                        // A client stage that used up its reconnect_attempts carries nothing any more: the pipeline is
                        // broken, so the command stops with exit code 1, as when a server cannot bind, for its
                        // supervisor to see. The event comes on the stage's thread, which the stop waits for: the
                        // cancellation's callbacks run on the thread pool.
                        var name = client.Name;
                        c.ConnectFailed += (_, e) =>
                        {
                            if (!e.GivingUp || Interlocked.Exchange(ref gaveUp, 1) == 1)
                                return;
                            // Said once, on stderr with run's other fatal lines (the stage's connect_failed line on stdout has giving_up).
                            io.Stderr.WriteLine($"ferry run: stage '{name}' gave up connecting to {e.Remote} after {e.Attempt} attempts (reconnect_attempts): {e.Reason}; stopping");
                            Volatile.Write(ref exitCode, 1);
                            signals.Stop();
                        };
                        c.Start();
                        break;
                    case BridgeStageDeclaration bridge:
                        var options = new FrameBridgeOptions
                        {
                            // Its inner stage's log of the bind it gave up on would repeat run's line as well (naming PUSH or PULL).
                            LoggerFactory = stageLogs, HandshakeTimeout = bridge.HandshakeTimeout, MaxPayloadBytes = bridge.MaxPayloadBytes,
                            FrameTimeout = bridge.FrameTimeout,
                            StopGracePeriod = bridge.StopGracePeriod,
                            ReportSlowHandlers = false, // every handler of its stages is Ferry's own (FrameBridgeOptions.ReportSlowHandlers)
                        };
                        IFrameBridge end;
                        try
                        {
                            end = bridge.IsServer ? new FrameBridgeServer(bridge.Address, bridge.Port, options) : new FrameBridgeClient(bridge.Address, bridge.Port, options);
                        }
                        catch (Exception ex) when (ex is IOException or System.Net.Sockets.SocketException or InvalidOperationException)
                        {
                            // The bridge's own message names its inner stages (PUSH, PULL), which the file does not have.
                            throw new IOException($"stage '{bridge.Name}' ({(bridge.IsServer ? "bridge_server" : "bridge_client")} {bridge.Address} {bridge.Port}): {ex.Message}", ex);
                        }
                        bridges.Add((bridge.Name, end));
                        started.Add(forced => end.StopAsync(forced));
                        _ = PrintFramesAsync(bridge.Name, end, output, quiet, signals.Stopping);
                        break;
                }
            }
            // A gateway serves on when its event lines can no longer be written (a service whose log reader restarted): said once.
            _ = StdoutWatch.WatchAsync(io, () => io.Stderr.WriteLine("ferry run: stdout was closed (whatever read it has ended): "
                + "event lines are lost from now on; the stages go on"), signals.Stopping);
            // Every stage is up: what only the start needed can go (the bridges' ends connect on their own).
            _ = StartupPages.ReleaseWhenSettledAsync(loggerFactory.CreateLogger("Ferry.Cli"), signals.Stopping);
            await Task.Delay(Timeout.Infinite, signals.Stopping).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (signals.Stopping.IsCancellationRequested)
        {
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            // Said once, on stderr: a copy on stdout repeated it (a server that could not bind has its own error line there, the
            // stage's event, as under ferry serve).
            io.Stderr.WriteLine($"ferry run: could not start: {ex.Message}; {(started.Count == 0 ? "nothing had started" : "stopping what had started")}");
            exitCode = 1;
        }
        // Every stage at once: accepting stops everywhere at the same moment and the drains run side by
        // side, so the stop lasts the longest grace period, not their sum; a second signal forces it.
        // A last stats line for each stage whose start was begun: one never begun (a stage after the one that could not
        // start, or every stage when the scrape endpoint could not listen) has no closed line and nothing to account for.
        var account = new StopAccount();
        foreach (var (name, server) in servers.Where(s => attempted.Contains(s.Key)))
            account.Add(name, server.GetStats, () => server.Core.StopDropped, () => server.Core.IngressStopDropped);
        foreach (var (name, client) in clients.Where(c => attempted.Contains(c.Key)))
            account.Add(name, client.GetStats, () => client.Core.StopDropped, () => client.Core.IngressStopDropped);
        // The whole stop, the wait for answers included, lasts at most the longest grace period (a second signal ends it).
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(signals.Forced);
        var grace = LongestGrace(pipeline);
        deadline.CancelAfter(grace);
        // Accepting stops at once: a client that comes while the answers in flight are awaited would be accepted only to be
        // closed by the stop, its requests refused as the run is stopping. The stages' own stop would do it only after that wait.
        foreach (var (_, server) in servers.Where(s => attempted.Contains(s.Key)))
            server.Core.Post(server.Core.StopAccepting);
        var waited = await AnswersInFlightAsync(books, grace, io.Stderr, deadline.Token).ConfigureAwait(false);
        await Task.WhenAll(started.Select(s => StopQuietly(s, waited ? deadline.Token : signals.Forced))).ConfigureAwait(false);
        foreach (var (_, book) in books)
            book.Loss.Flush();
        account.Report("ferry run", "stop_grace_period", output, io.Stderr);
        foreach (var d in disposables)
            d.Dispose();
        // A bridge end's stop is its dispose; its closed line follows, as the TCP stages' follow theirs (and ferry bridge's).
        foreach (var (name, bridge) in bridges)
        {
            await bridge.DisposeAsync().ConfigureAwait(false);
            output.Write(new ClosedLine { Stage = name }, CliJsonContext.Default.ClosedLine);
        }
        foreach (var s in servers.Values)
            await s.DisposeAsync().ConfigureAwait(false);
        foreach (var c in clients.Values)
            await c.DisposeAsync().ConfigureAwait(false);
        output.Flush();
        return Volatile.Read(ref exitCode);
    }

    /// <summary>
    /// Before the stages stop, a <c>target: reply</c> pair's requests already sent upstream get their answers: no new request
    /// is sent from now on (each is counted as unanswered), and the stop waits, within the grace period, until every answer
    /// owed has come in and been handed to the server stage, whose own stop then writes it to its client. Stopping at once
    /// closed the upstream connection as soon as the requests were written, and every request in flight lost its answer.
    /// </summary>
    /// <returns>Whether it waited (the stages' stop then ends at the same deadline).</returns>
    private static async Task<bool> AnswersInFlightAsync(List<(string Upstream, ReplyBook Book)> books, TimeSpan grace, TextWriter stderr, CancellationToken deadline)
    {
        foreach (var (_, book) in books)
            book.Close();
        var owed = new List<Task>();
        foreach (var (upstream, book) in books)
        {
            var settled = book.WhenSettledAsync();
            if (settled.IsCompleted)
                continue;
            // A request being sent is counted once its sender recorded it (or gave it up): the upstream client may have written
            // it already. Requests only queued to be sent are given up now, each counted, with no answer to wait for: no line for them.
            await book.WhenNotSendingAsync().WaitAsync(deadline).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            var waiting = book.Waiting;
            if (waiting > 0)
                JsonStderrWriter.Line(stderr, LogLevel.Information, $"ferry run: stopping: waiting up to {(long)grace.TotalMilliseconds} ms (stop_grace_period) for the answers to {waiting} request{(waiting == 1 ? "" : "s")} in flight on '{upstream}'");
            owed.Add(settled);
        }
        if (owed.Count == 0)
            return false;
        await Task.WhenAll(owed).WaitAsync(deadline).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        return true;
    }

    /// <summary>The longest stop_grace_period of the file's stages: how long the whole stop may last.</summary>
    private static TimeSpan LongestGrace(PipelineDefinition pipeline)
        => pipeline.Stages.Select(s => s switch
        {
            ServerStageDeclaration server => server.Options.StopGracePeriod,
            ClientStageDeclaration client => client.Options.StopGracePeriod,
            BridgeStageDeclaration bridge => bridge.StopGracePeriod,
            _ => TimeSpan.Zero,
        }).DefaultIfEmpty(TimeSpan.Zero).Max();

    /// <summary>A stage that fails to stop must not keep the others from stopping; disposal afterwards finishes it.</summary>
    private static async Task StopQuietly(Func<CancellationToken, Task> stopStage, CancellationToken forced)
        => await stopStage(forced).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);

    private static async Task PrintFramesAsync(string name, IFrameBridge bridge, JsonLineWriter output, bool quiet, CancellationToken ct)
    {
        try
        {
            await bridge.WaitReadyAsync(ct).ConfigureAwait(false);
            output.Write(new ReadyLine { Stage = name }, CliJsonContext.Default.ReadyLine);
            await foreach (var frame in bridge.ReadAllAsync(ct).ConfigureAwait(false))
                if (!quiet)
                    output.Write(new FrameLine(frame.Flags, frame.Channel, frame.Error, frame.Payload.Length) { Stage = name }, CliJsonContext.Default.FrameLine);
        }
        catch (OperationCanceledException)
        {
        }
        catch (Exception ex) when (ex is InvalidOperationException or JsonException)
        {
            output.StageError(name, null, ex.Message);
        }
    }
}
