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
/// starts the stages (servers first, each listening before the next starts; on a <c>nats</c> bus each server's
/// NATS gateway connects before its stage starts), and on Ctrl+C or SIGTERM
/// stops them in reverse order. When any stage cannot start, the ones already started are stopped and
/// the command exits 1: nothing is left half-started.
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
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, c => { c.Cancel = true; stop.Cancel(); });
        using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, c => { c.Cancel = true; stop.Cancel(); });
        var exitCode = 0;
        var started = new List<Func<Task>>();
        try
        {
            foreach (var declaration in pipeline.Stages)
            {
                switch (declaration)
                {
                    case ServerStageDeclaration server:
                        var s = new TcpServerStage(server.Options, bus, loggerFactory);
                        servers.Add(server.Name, s);
                        StageJsonPrinter.Attach(s, output, printPackets: !quiet, tag: server.Name);
                        disposables.Add(FerryMetrics.Track(s));
                        break;
                    case ClientStageDeclaration client:
                        var c = new TcpClientStage(client.Options, bus, loggerFactory);
                        clients.Add(client.Name, c);
                        StageJsonPrinter.Attach(c, output, printPackets: !quiet, tag: client.Name);
                        disposables.Add(FerryMetrics.Track(c));
                        break;
                }
            }
            var books = new Dictionary<(string, string), ReplyBook>();
            foreach (var route in pipeline.Routes)
            {
                var answers = pipeline.Routes.FirstOrDefault(r => r.Target == RouteTarget.Reply && r.From == route.To && r.To == route.From);
                ReplyBook? record = null, answer = null;
                if (route.Target == RouteTarget.Reply)
                    answer = Book(books, route.To, route.From);
                else if (answers is not null)
                    record = Book(books, route.From, route.To);
                disposables.Add(RouteWiring.Attach(bus, route, servers.ContainsKey(route.To), record, answer));
            }
            disposables.Add(PipelineTelemetry.Start(pipeline.Telemetry) ?? (IDisposable)new CancellationTokenSource());

            foreach (var declaration in pipeline.Stages)
            {
                switch (declaration)
                {
                    case ServerStageDeclaration server:
                        var stage = servers[server.Name];
                        if (pipeline.Bus.Nats is { } nats)
                        {
                            // Before the stage, so nothing it reads is published before NATS has the gateway; disposed after it stops.
                            var gateway = new NatsGateway(stage, nats, loggerFactory);
                            started.Add(() => gateway.DisposeAsync().AsTask());
                            await gateway.StartAsync(stop.Token).ConfigureAwait(false);
                        }
                        started.Add(() => stage.StopAsync());
                        await stage.StartAsync(stop.Token).ConfigureAwait(false);
                        break;
                    case ClientStageDeclaration client:
                        var c = clients[client.Name];
                        started.Add(() => c.StopAsync());
                        c.Start();
                        break;
                    case BridgeStageDeclaration bridge:
                        var options = new FrameBridgeOptions { LoggerFactory = loggerFactory, HandshakeTimeout = bridge.HandshakeTimeout, MaxPayloadBytes = bridge.MaxPayloadBytes };
                        IFrameBridge end = bridge.IsServer ? new FrameBridgeServer(bridge.Address, bridge.Port, options) : new FrameBridgeClient(bridge.Address, bridge.Port, options);
                        bridges.Add((bridge.Name, end));
                        started.Add(() => end.StopAsync());
                        _ = PrintFramesAsync(bridge.Name, end, output, quiet, stop.Token);
                        break;
                }
            }
            await Task.Delay(Timeout.Infinite, stop.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            output.Error($"ferry run: could not start: {ex.Message}");
            io.Stderr.WriteLine($"ferry run: could not start: {ex.Message}; stopping what had started");
            exitCode = 1;
        }
        for (var i = started.Count - 1; i >= 0; i--)
            await started[i]().ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        foreach (var d in disposables)
            d.Dispose();
        foreach (var (_, bridge) in bridges)
            await bridge.DisposeAsync().ConfigureAwait(false);
        foreach (var s in servers.Values)
            await s.DisposeAsync().ConfigureAwait(false);
        foreach (var c in clients.Values)
            await c.DisposeAsync().ConfigureAwait(false);
        output.Flush();
        return exitCode;
    }

    private static ReplyBook Book(Dictionary<(string, string), ReplyBook> books, string server, string client)
    {
        if (!books.TryGetValue((server, client), out var book))
            books[(server, client)] = book = new ReplyBook();
        return book;
    }

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
            output.Error($"bridge {name}: {ex.Message}");
        }
    }
}
