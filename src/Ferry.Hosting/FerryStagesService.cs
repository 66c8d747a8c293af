using Ferry.Bridge;
using Ferry.Bus;
using Ferry.Hosting.Settings;
using Ferry.Hosting.Telemetry;
using Ferry.Nats;
using Ferry.Stages;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Ferry.Hosting;

/// <summary>
/// Runs the declared stages with the host: creates them on the bus, starts servers (each listening
/// before the next starts) and clients, and stops them in reverse order when the host stops, with the
/// host's shutdown timeout as their grace period. With a <c>nats</c> bus each server stage's NATS gateway
/// connects before its stage starts. A stage that cannot start stops those already started.
/// </summary>
internal sealed class FerryStagesService(
    IOptions<FerryOptions> options, IOptions<HostOptions> hostOptions, IMessageBus bus, FerryStages stages, ILoggerFactory loggerFactory) : IHostedService
{
    private readonly List<Func<Task>> _stops = [];
    private readonly List<IAsyncDisposable> _owned = [];
    private readonly List<IDisposable> _tracking = [];

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        var grace = hostOptions.Value.ShutdownTimeout;
        try
        {
            foreach (var declaration in options.Value.Stages)
            {
                switch (declaration)
                {
                    case ServerStageDeclaration server:
                    {
                        Claim(server.Name);
                        var stage = new TcpServerStage(server.Options with { StopGracePeriod = grace }, bus, loggerFactory);
                        _owned.Add(stage);
                        stages.Add(stage);
                        _tracking.Add(FerryMetrics.Track(stage));
                        if (options.Value.Nats is { } nats)
                        {
                            // Connected before the stage starts; disposed after it stops (the stops run in reverse).
                            var gateway = new NatsGateway(stage, nats, loggerFactory);
                            _owned.Add(gateway);
                            stages.Add(server.Name, gateway);
                            await gateway.StartAsync(cancellationToken).ConfigureAwait(false);
                        }
                        _stops.Add(() => stage.StopAsync());
                        await stage.StartAsync(cancellationToken).ConfigureAwait(false);
                        break;
                    }
                    case ClientStageDeclaration client:
                    {
                        Claim(client.Name);
                        var stage = new TcpClientStage(client.Options with { StopGracePeriod = grace }, bus, loggerFactory);
                        _owned.Add(stage);
                        stages.Add(stage);
                        _tracking.Add(FerryMetrics.Track(stage));
                        _stops.Add(() => stage.StopAsync());
                        stage.Start();
                        break;
                    }
                    case BridgeStageDeclaration bridge:
                    {
                        var bridgeOptions = new FrameBridgeOptions
                        {
                            LoggerFactory = loggerFactory, HandshakeTimeout = bridge.HandshakeTimeout, MaxPayloadBytes = bridge.MaxPayloadBytes, StopGracePeriod = grace,
                        };
                        IFrameBridge end = bridge.IsServer
                            ? new FrameBridgeServer(bridge.Address, bridge.Port, bridgeOptions)
                            : new FrameBridgeClient(bridge.Address, bridge.Port, bridgeOptions);
                        _owned.Add(end);
                        stages.Add(bridge.Name, end);
                        _stops.Add(() => end.StopAsync());
                        break;
                    }
                }
            }
        }
        catch
        {
            await StopAsync(CancellationToken.None).ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>Takes the name on the bus for as long as the stage runs.</summary>
    private void Claim(string name)
    {
        BusStageNames.Claim(bus, name);
        _stops.Add(() =>
        {
            BusStageNames.Release(bus, name);
            return Task.CompletedTask;
        });
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        for (var i = _stops.Count - 1; i >= 0; i--)
            await _stops[i]().WaitAsync(cancellationToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        _stops.Clear();
        foreach (var tracked in _tracking)
            tracked.Dispose();
        _tracking.Clear();
        foreach (var owned in _owned)
            await owned.DisposeAsync().ConfigureAwait(false);
        _owned.Clear();
        stages.Clear();
    }
}
