using Ferry.Bridge;
using Ferry.Bus;
using Ferry.Hosting.Settings;
using Ferry.Hosting.Telemetry;
using Ferry.Nats;
using Ferry.Stages;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Ferry.Hosting;

/// <summary>
/// Runs the declared stages with the host: builds every TCP stage on the bus (on the registered <see cref="TimeProvider"/>,
/// the system's when none, as the bridge ends) before starting any, runs their set-up code (<c>ConfigureTcpServerStage</c>, in registration
/// order), then starts them in declaration order: servers (each listening before the next starts), clients, bridge ends.
/// With a <c>nats</c> bus each server stage's NATS gateway connects before its stage starts. A stage that cannot start stops those already started. When the host stops, every stage stops at once,
/// each draining for its own grace period (its <c>stop_grace_period</c>, never more than the host's shutdown timeout),
/// and the host's stop token cuts every grace short.
/// </summary>
internal sealed class FerryStagesService(
    IOptions<FerryOptions> options, IOptions<HostOptions> hostOptions, IMessageBus bus, FerryStages stages, ILoggerFactory loggerFactory,
    IServiceProvider services) : IHostedService
{
    private readonly List<Func<CancellationToken, Task>> _stops = [];
    private readonly List<IAsyncDisposable> _owned = [];
    private readonly List<IDisposable> _tracking = [];

    /// <summary>
    /// The grace period a hosted stage gets when it does not set one: the host's shutdown timeout (null, the
    /// library's default, when that is infinite).
    /// </summary>
    internal static TimeSpan? DefaultGrace(HostOptions host) => host.ShutdownTimeout >= TimeSpan.Zero ? host.ShutdownTimeout : null;

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        stages.Starting();
        try
        {
            // Every stage is built before any starts: what a constructor refuses (a TLS file that went missing since
            // validation) fails the start with nothing bound, rather than after earlier stages accepted clients.
            var built = Build();
            foreach (var setup in options.Value.Setups)
            {
                // Validation made sure each set-up names a built stage of its kind.
                if (setup.Server is { } server)
                    server((TcpServerStage)built[setup.Name], services);
                else
                    setup.Client!((TcpClientStage)built[setup.Name], services);
            }
            foreach (var declaration in options.Value.Stages)
            {
                switch (declaration)
                {
                    case ServerStageDeclaration:
                    {
                        var stage = (TcpServerStage)built[declaration.Name];
                        if (options.Value.Nats is { } nats)
                        {
                            // Connected before the stage starts; disposed before it (disposal runs in reverse order of creation).
                            var gateway = new NatsGateway(stage, nats, loggerFactory);
                            _owned.Add(gateway);
                            stages.Add(declaration.Name, gateway);
                            _tracking.Add(NatsGatewayMetrics.Track(declaration.Name, gateway));
                            await gateway.StartAsync(cancellationToken).ConfigureAwait(false);
                        }
                        _stops.Add(stage.StopAsync);
                        await stage.StartAsync(cancellationToken).ConfigureAwait(false);
                        break;
                    }
                    case ClientStageDeclaration:
                    {
                        var stage = (TcpClientStage)built[declaration.Name];
                        _stops.Add(stage.StopAsync);
                        stage.Start();
                        break;
                    }
                    case BridgeStageDeclaration bridge:
                    {
                        var bridgeOptions = new FrameBridgeOptions
                        {
                            LoggerFactory = loggerFactory, HandshakeTimeout = bridge.HandshakeTimeout, MaxPayloadBytes = bridge.MaxPayloadBytes,
                            FrameTimeout = bridge.FrameTimeout,
                            // Its stop_grace_period (the shutdown timeout when unset), as the TCP stages': never more than the host waits.
                            StopGracePeriod = Grace(bridge.Name, bridge.StopGracePeriod, hostOptions.Value.ShutdownTimeout),
                            // The host's clock, as the TCP stages': a registered fake one moves handshake deadlines, send
                            // timeouts and reconnect delays of the bridge ends too.
                            TimeProvider = services.GetService<TimeProvider>() ?? TimeProvider.System,
                        };
                        IFrameBridge end = bridge.IsServer
                            ? new FrameBridgeServer(bridge.Address, bridge.Port, bridgeOptions)
                            : new FrameBridgeClient(bridge.Address, bridge.Port, bridgeOptions);
                        _owned.Add(end);
                        stages.Add(bridge.Name, end);
                        // The host's token cuts the bridge's drain short, as the stages': when it fires the end closes its
                        // connections and ports before its stop completes, instead of draining on after the host has stopped.
                        _stops.Add(end.StopAsync);
                        break;
                    }
                }
            }
            stages.Started();
        }
        catch
        {
            await StopAsync(CancellationToken.None).ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>
    /// Builds every TCP stage on the host's bus (named on it, tracked by the meter, visible in <see cref="FerryStages"/>) without
    /// starting any. Stages a constructor refuses are all reported, each at its declaration, as a validation failure would be.
    /// </summary>
    private Dictionary<string, IAsyncDisposable> Build()
    {
        var shutdown = hostOptions.Value.ShutdownTimeout;
        var time = services.GetService<TimeProvider>();
        var built = new Dictionary<string, IAsyncDisposable>(StringComparer.Ordinal);
        var failures = new List<string>();
        foreach (var declaration in options.Value.Stages)
        {
            if (declaration is not (ServerStageDeclaration or ClientStageDeclaration))
                continue;
            try
            {
                IAsyncDisposable stage;
                if (declaration is ServerStageDeclaration server)
                {
                    var created = new TcpServerStage(server.Options with { StopGracePeriod = Grace(server.Name, server.Options.StopGracePeriod, shutdown) },
                        bus, loggerFactory, time);
                    stages.Add(created);
                    _tracking.Add(FerryMetrics.Track(created));
                    stage = created;
                }
                else
                {
                    var client = (ClientStageDeclaration)declaration;
                    var created = new TcpClientStage(client.Options with { StopGracePeriod = Grace(client.Name, client.Options.StopGracePeriod, shutdown) },
                        bus, loggerFactory, time);
                    stages.Add(created);
                    _tracking.Add(FerryMetrics.Track(created));
                    stage = created;
                }
                _owned.Add(stage);
                built.Add(declaration.Name, stage);
            }
            catch (StageOptionsException ex)
            {
                failures.AddRange(ex.MarkedProblems.Select(p => $"{declaration.Where}: {StageBuildCheck.InWordsOf(declaration, p)}"));
            }
        }
        if (failures.Count > 0)
            throw new OptionsValidationException(Options.DefaultName, typeof(FerryOptions), failures);
        return built;
    }

    /// <summary>The stage's own grace period, but never longer than the host waits for it (said once in the log when cut).</summary>
    private TimeSpan Grace(string name, TimeSpan configured, TimeSpan shutdown)
    {
        if (shutdown < TimeSpan.Zero || configured <= shutdown)
            return configured;
        loggerFactory.CreateLogger<FerryStagesService>().LogWarning(
            "stage '{Stage}': stop_grace_period {Configured} is longer than the host's shutdown timeout; the stage gets {Shutdown}", name, configured, shutdown);
        return shutdown;
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        // All at once: each stage drains for its own grace period rather than after the others' (which a host's shutdown
        // timeout would not cover), and cancelling the host's token cuts every grace short (the stages' own StopAsync
        // contract: the connections are closed and the stop completes).
        var stopping = _stops.Select(stop => stop(cancellationToken)).ToArray();
        _stops.Clear();
        await Task.WhenAll(stopping).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        foreach (var tracked in _tracking)
            tracked.Dispose();
        _tracking.Clear();
        // Reverse order of creation: a NATS gateway lets go of its stage before the stage is disposed. The stages have
        // stopped, so their disposal is immediate; a gateway's drain of JetStream publishes is given up when the token fires.
        for (var i = _owned.Count - 1; i >= 0; i--)
            await _owned[i].DisposeAsync().AsTask().WaitAsync(cancellationToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        _owned.Clear();
        stages.Clear();
    }
}
