using System.Diagnostics;
using System.Globalization;
using Ferry.Bus;
using Ferry.Connections;
using Ferry.Nats.Internal;
using Ferry.Stages;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using NATS.Client.Core;
using NATS.Client.JetStream;

namespace Ferry.Nats;

/// <summary>
/// Connects a <see cref="TcpServerStage"/> to NATS, as seed 003's TCP gear does: every packet is published to
/// the ingress subject with <c>conn.id</c>, <c>peer.ip</c>, <c>peer.port</c>, the framing's fields and the
/// receive time as headers; egress subjects are routed by their headers to one connection, a group, all, or
/// any one; the control subject takes the kill switch; events and stats are published as JSON.
/// Several gateways may serve one stage name: each takes replies for its own connections on
/// <see cref="InstanceEgressSubject"/>, derived from the instance part of its connection ids.
/// </summary>
/// <example>
/// <code>
/// var bus = new InProcessBus();
/// await using var stage = new TcpServerStage(new TcpServerStageOptions { Name = "pos", Bind = ":9000" }, bus);
/// await using var gateway = new NatsGateway(stage, new NatsGatewayOptions { Url = "nats://127.0.0.1:4222" });
/// await gateway.StartAsync();   // before the stage, so no packet is published before NATS is ready
/// await stage.StartAsync();
/// </code>
/// </example>
public sealed class NatsGateway : IAsyncDisposable
{
    private static readonly TimeSpan DrainTimeout = TimeSpan.FromSeconds(5);

    /// <summary>The server's URL as lines may show it: its password or token masked.</summary>
    private string UrlForLog => NatsUrlText.Redacted(_options.Url);
    private static readonly TimeSpan ConnectTimeout = TimeSpan.FromSeconds(10);
    private readonly TcpServerStage _stage;
    private readonly NatsGatewayOptions _options;
    private readonly ILogger _logger;
    private readonly ILoggerFactory _loggerFactory;
    private readonly GatewayCounters _counters = new();
    private readonly ConnectionTags _tags = new();
    private readonly CancellationTokenSource _stopping = new();
    private readonly List<IDisposable> _handlers = [];
    private readonly List<Task> _loops = [];
    private NatsConnection? _nats;
    private IngressPublisher? _ingress;
    private EventOutbox? _outbox;
    private EgressDropLog? _dropLog;
    private LoopWatch? _watch;
    private int _state; // 0 new, 1 started, 2 disposed, 3 its start failed (and it stopped)
    /// <summary>When the NATS connection was lost (a <see cref="Stopwatch"/> timestamp); 0 while connected.</summary>
    private long _lostAt;

    /// <summary>
    /// Validates the options against the stage (throwing <see cref="NatsOptionsException"/> naming every bad one) and keeps a copy
    /// of them: a change to <paramref name="options"/> afterwards does not reach this gateway.
    /// </summary>
    public NatsGateway(TcpServerStage stage, NatsGatewayOptions options, ILoggerFactory? loggerFactory = null)
        : this(stage, options, loggerFactory, ConnectionIds.ProcessInstance)
    {
    }

    /// <param name="stage">The stage.</param>
    /// <param name="options">The options.</param>
    /// <param name="loggerFactory">Where it logs.</param>
    /// <param name="instance">The instance its subjects and consumers are named after: the process's, except in tests that
    /// run two gateways of one stage in one process (their connections' ids still carry the process's).</param>
    internal NatsGateway(TcpServerStage stage, NatsGatewayOptions options, ILoggerFactory? loggerFactory, uint instance)
    {
        ArgumentNullException.ThrowIfNull(stage);
        ArgumentNullException.ThrowIfNull(options);
        // A copy of what was validated: the subjects are resolved here, the rest was read at the start, so a change to the
        // caller's object between the two (one object reused for a second gateway, a URL set afterwards) was half seen, and
        // a value set after the check (MaxInFlight = 0) was used unchecked.
        _options = options.Copy();
        _options.Validate(stage.Name);
        _stage = stage;
        options = _options;
        _loggerFactory = loggerFactory ?? NullLoggerFactory.Instance;
        _logger = _loggerFactory.CreateLogger("Ferry.Nats.Gateway." + stage.Name);
        Instance = instance.ToString("x8", CultureInfo.InvariantCulture);
        IngressSubject = options.Resolve(options.IngressSubject, stage.Name);
        EgressSubject = options.Resolve(options.EgressSubject, stage.Name);
        InstanceEgressSubject = NatsEgressSubjects.ForInstance(EgressSubject, instance);
        ControlSubject = options.Resolve(options.ControlSubject, stage.Name);
        EventsSubject = options.Resolve(options.EventsSubject, stage.Name);
        StatsSubject = options.Resolve(options.StatsSubject, stage.Name);
    }

    /// <summary>The name of the server stage the gateway connects (the <c>{stage}</c> of its subjects).</summary>
    public string StageName => _stage.Name;

    /// <summary>The delivery mode in use.</summary>
    public NatsDeliveryMode Mode => _options.Mode;

    /// <summary>This process's connection-id instance, 8 hex digits: the last token of <see cref="InstanceEgressSubject"/>.</summary>
    public string Instance { get; }

    /// <summary>Where packets are published, e.g. <c>ferry.pos.in</c>.</summary>
    public string IngressSubject { get; }

    /// <summary>The egress subject all gateways of the stage take (all, groups), e.g. <c>ferry.pos.out</c>.</summary>
    public string EgressSubject { get; }

    /// <summary>The egress subject only this gateway takes, e.g. <c>ferry.pos.out.9a3c01f2</c>: replies to its connections.</summary>
    public string InstanceEgressSubject { get; }

    /// <summary>The kill switch and group commands, e.g. <c>ferry.ctrl.pos</c>.</summary>
    public string ControlSubject { get; }

    /// <summary>Where lifecycle events are published as JSON, e.g. <c>ferry.pos.events</c>.</summary>
    public string EventsSubject { get; }

    /// <summary>Where socket stats and <see cref="Counters"/> are published as JSON once per stats interval, e.g. <c>ferry.pos.stats</c>.</summary>
    public string StatsSubject { get; }

    /// <summary>What the gateway has done so far.</summary>
    public NatsGatewayCounters Counters => _counters.Snapshot();

    /// <summary>
    /// Connects to NATS (failing with the server's error when it cannot), creates the JetStream streams and
    /// consumers when that mode is on and they are missing, subscribes to the egress and control subjects and
    /// attaches to the stage's channels; when it returns, the server has the gateway's subscriptions. Call it
    /// before starting the stage. Later outages are ridden out: the client reconnects by itself.
    /// </summary>
    /// <exception cref="InvalidOperationException">NATS cannot be reached, or (JetStream mode) the server has no
    /// JetStream or refuses a stream or consumer; the message names the stage, the URL or stream and the reason.</exception>
    public async Task StartAsync(CancellationToken cancellationToken = default)
    {
        if (Interlocked.CompareExchange(ref _state, 1, 0) is var was and not 0)
            throw new InvalidOperationException(was == 3
                ? $"the NATS gateway of stage '{_stage.Name}' failed to start and stopped; make a new one to try again"
                : $"the NATS gateway of stage '{_stage.Name}' was already started or disposed");
        try
        {
            await StartCoreAsync(cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            await StopAfterFailedStartAsync().ConfigureAwait(false);
            throw;
        }
    }

    private async Task StartCoreAsync(CancellationToken cancellationToken)
    {
        // Before anything starts: another gateway of this process on the server, with options of its own, whose stage's subjects
        // meet this one's (a template without {stage}, another prefix) would mix their traffic, and one whose stage names a stream
        // of this one's would hold it with its own subjects.
        try
        {
            GatewaysInProcess.Claim(this, _options.Url, StageSubjects.Of(_stage.Name, _options), StageStreams.Of(_stage.Name, _options));
        }
        catch (InvalidOperationException ex)
        {
            throw new InvalidOperationException($"NATS gateway of stage '{_stage.Name}': {ex.Message}", ex);
        }
        // Disposed already (its token source too): said as such, before anything connects.
        ThrowIfDisposedWhileStarting();
        var stopping = _stopping.Token;
        _nats = new NatsConnection(new NatsOpts
        {
            Url = _options.Url,
            Name = $"ferry-{_stage.Name}-{Instance}",
            LoggerFactory = new ClientLogLimiter(_loggerFactory, TimeProvider.System),
            MaxReconnectRetry = -1,
            ReconnectWaitMin = TimeSpan.FromMilliseconds(100),
            ReconnectWaitMax = TimeSpan.FromSeconds(2),
            SubPendingChannelCapacity = _options.MaxPendingEgress,
            // The client's 2 s default fails a start on a busy machine; a server that refuses is still
            // reported at once (the connection is refused), only a slow one is waited for.
            ConnectTimeout = ConnectTimeout,
            CommandTimeout = _options.PublishTimeout,
            WriterBufferSize = _options.WriteBufferBytes,
        });
        _nats.ConnectionOpened += (_, _) =>
        {
            _counters.Connected = true;
            // Said once per outage; the client's own line per failed attempt is rate-limited (ClientLogLimiter).
            var lostAt = Interlocked.Exchange(ref _lostAt, 0);
            if (lostAt != 0)
                _logger.LogInformation("stage {Stage}: NATS connection to {Url} is back after {Seconds:0.0} s", _stage.Name, UrlForLog,
                    Stopwatch.GetElapsedTime(lostAt).TotalSeconds);
            return ValueTask.CompletedTask;
        };
        _nats.ConnectionDisconnected += (_, _) =>
        {
            // Counted before Connected drops: a reader that sees Connected == false must also see this outage counted.
            Interlocked.Increment(ref _counters.Disconnects);
            _counters.Connected = false;
            if (Volatile.Read(ref _state) == 1 && Interlocked.CompareExchange(ref _lostAt, Stopwatch.GetTimestamp(), 0) == 0)
                _logger.LogWarning("stage {Stage}: NATS connection to {Url} lost; reconnecting every 0.1 to 2 s until it is back ({Mode}: {Meanwhile})",
                    _stage.Name, UrlForLog, _options.Mode,
                    _options.Mode == NatsDeliveryMode.JetStream ? $"ingress waits in the window of {_options.MaxInFlight} ({_options.Say("max_in_flight")}) and is sent again"
                        : $"ingress that finds no room within {Ferry.Stages.Internal.DurationWords.Of(_options.PublishTimeout)} ({_options.Say("publish_timeout")}) is dropped and counted");
            return ValueTask.CompletedTask;
        };
        // A full egress subscription queue drops on the client's reader: counted, and said once per streak (not per message).
        var dropLog = _dropLog = new EgressDropLog(_logger, _stage.Name, _options.MaxPendingEgress, _options.Say("max_pending_egress"),
            _options.Mode == NatsDeliveryMode.JetStream ? "not acknowledged, so sent again after the ack wait" : "lost", ControlSubject, TimeProvider.System);
        _nats.MessageDropped += (_, dropped) =>
        {
            dropLog.Dropped(dropped.Subject, Interlocked.Increment(ref _counters.ClientDropped));
            return ValueTask.CompletedTask;
        };
        try
        {
            await _nats.ConnectAsync().AsTask().WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            throw new InvalidOperationException($"NATS gateway of stage '{_stage.Name}': cannot connect to '{UrlForLog}' ({Causes(ex)})", ex);
        }
        _counters.Connected = true;
        if (AfterConnectForTest is { } afterConnect)
            await afterConnect().ConfigureAwait(false);

        _outbox = new EventOutbox(_nats, _counters, EventsSubject, StatsSubject, Instance);
        var watch = _watch = new LoopWatch(_logger, _stage.Name, _counters, _outbox, () => Volatile.Read(ref _state) != 1 || _stopping.IsCancellationRequested);
        _loops.Add(watch.Watch($"event outbox (to {EventsSubject} and {StatsSubject})", _outbox.RunAsync(stopping)));
        var fields = FieldHeaders.For(_stage.Options.Framing);
        var failures = new MessageFailureLog(_logger, _stage.Name, TimeProvider.System);
        var router = new EgressRouter(_stage, ConnectionIds.ProcessInstance, _counters, _outbox, fields, failures);
        var egressSubjects = new EgressSubjects(EgressSubject, InstanceEgressSubject, NatsEgressSubjects.ForAny(EgressSubject), _stage.Name, Instance);
        if (_options.Mode == NatsDeliveryMode.JetStream)
        {
            var js = JetStreamRequestTimeoutForTest is { } requestTimeout
                ? new NatsJSContext(_nats, new NatsJSOpts(_nats.Opts, requestTimeout: requestTimeout)) : new NatsJSContext(_nats);
            var egressStream = _options.StreamName(_options.EgressStream, _stage.Name);
            // A server with JetStream that leaves a setup request unanswered is asked again a few times, each step on its own.
            var retry = new JetStreamStartRetry(_logger, _stage.Name, SetupRetryTimeForTest);
            try
            {
                var ingressStream = _options.StreamName(_options.IngressStream, _stage.Name);
                var (ingressConfig, egressConfig) = await JetStreamSetup.EnsureStreamsAsync(js, _options.Url, ingressStream, IngressSubject,
                    egressStream, EgressSubject, cancellationToken, sayKey: _options.Say, coreMode: _options.SayCoreMode, retry: retry).ConfigureAwait(false);
                var (url, coreMode) = (_options.Url, _options.SayCoreMode);
                Func<Exception, string> describe = ex => JetStreamSetup.DescribeRefusal(js, url, ex, coreMode);
                var recreator = new StreamRecreator(RecreatedStream.Ingress(ingressStream, IngressSubject, _options.Say("ingress_stream")), ct => JetStreamSetup.CreateIfMissingAsync(js, ingressConfig, ct),
                    describe, _logger, TimeProvider.System, stopping);
                _ingress = new JetStreamIngressPublisher(js, ingressStream, IngressSubject, _tags, fields, _options.IngressLayout, _counters,
                    _options.MaxInFlight, _options.AckTimeout, Instance, stopping, _logger, recreator, _options.Say("ingress_stream"));
                _loops.Add(await retry.RunAsync(() => new JetStreamEgress(js, router, egressSubjects, egressConfig, _options.MaxPendingEgress, _logger, watch, describe,
                    TimeProvider.System, _options.Say).StartAsync(BeforeClaimForTest, stopping), stopping).ConfigureAwait(false));
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                // Said once, at start, in the words of the configuration: not a stack trace from the client.
                var why = ex is InvalidOperationException ? ex.Message
                    : JetStreamSetup.IsNoJetStream(ex) ? JetStreamSetup.NoJetStreamMessage(_options.Url, _options.SayCoreMode)
                    : $"cannot set up the JetStream consumers of stream '{egressStream}' ({ex.GetType().Name}: {ex.Message})";
                throw new InvalidOperationException($"NATS gateway of stage '{_stage.Name}': {why}", ex);
            }
        }
        else
        {
            _ingress = new CoreIngressPublisher(_nats, IngressSubject, _tags, fields, _options.IngressLayout, _counters, _logger);
            _loops.Add(await new CoreEgress(_nats, router, egressSubjects, _options.MaxPendingEgress, watch).StartAsync(stopping).ConfigureAwait(false));
        }
        _loops.Add(watch.Watch($"control subscription on {ControlSubject}",
            await new ControlListener(_nats, _stage, ConnectionIds.ProcessInstance, _counters, _outbox, ControlSubject, failures)
                .StartAsync(stopping).ConfigureAwait(false)));

        if (BeforeAttachForTest is { } beforeAttach)
            await beforeAttach().ConfigureAwait(false);
        var bus = _stage.Bus;
        var ingress = _ingress;
        lock (_handlers)
        {
            // A dispose that ran while the start went on found no handler to detach: attached now, they would stay on the stage
            // for good (its packets handed to a closed connection), as the start failed on that connection only after it.
            ThrowIfDisposedWhileStarting();
            _handlers.Add(bus.Topic<StageEvent>(StageTopics.Events(_stage.Name)).Subscribe(OnEventAsync));
            _handlers.Add(bus.Topic<SocketStats>(StageTopics.SocketStats(_stage.Name)).Subscribe(OnStatsAsync));
            _handlers.Add(bus.Topic<PacketGroup>(StageTopics.PacketGroup(_stage.Name)).Subscribe(ingress.PublishAsync));
        }
        // The server has every subscription above once it answers a ping sent after them: from here on,
        // nothing published to the egress or control subjects is missed.
        await _nats.PingAsync(cancellationToken).ConfigureAwait(false);
        // Before the line that says it runs, so that whoever hears it reads connected.
        _counters.Running = true;
        _logger.LogInformation("stage {Stage} on NATS {Url} ({Mode}): ingress {Ingress}, egress {Egress} and {Own}",
            _stage.Name, UrlForLog, _options.Mode, IngressSubject, EgressSubject, InstanceEgressSubject);
    }

    /// <summary>
    /// A start that failed leaves nothing running. The client reconnects for ever (MaxReconnectRetry -1) once it has connected, and
    /// a connect abandoned by the caller's token goes on by itself, so a gateway whose stream was refused (or whose start was
    /// cancelled) stayed connected, reconnecting after every outage, with its event outbox and subscriptions running, until a
    /// dispose its caller, holding only an exception, might never make.
    /// </summary>
    private async Task StopAfterFailedStartAsync()
    {
        // Disposed while it started (2): the dispose may have looked before the connection or the loops existed, so what is there
        // now is stopped here too (each step may come twice).
        if (Interlocked.CompareExchange(ref _state, 3, 1) is not (1 or 2))
            return;
        _counters.Running = false;
        DetachHandlers();
        _outbox?.Complete();
        try
        {
            await _stopping.CancelAsync().ConfigureAwait(false);
        }
        catch (ObjectDisposedException)
        {
            // The dispose has cancelled it already.
        }
        try
        {
            await Task.WhenAll(_loops).WaitAsync(DrainTimeout).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            _logger.LogDebug(ex, "NATS gateway loops ended with an error after a failed start");
        }
        if (_nats is not null)
            await CloseConnectionAsync(_nats).ConfigureAwait(false);
        _counters.Connected = false;
        _dropLog?.Dispose();
        GatewaysInProcess.Release(this);
    }

    /// <summary>Detaches from the stage's topics, under the lock the start attaches with (so that a dispose while it starts misses none).</summary>
    private void DetachHandlers()
    {
        lock (_handlers)
        {
            foreach (var handler in _handlers)
                handler.Dispose();
            _handlers.Clear();
        }
    }

    private void ThrowIfDisposedWhileStarting()
    {
        if (Volatile.Read(ref _state) != 1)
            throw new ObjectDisposedException(nameof(NatsGateway), $"the NATS gateway of stage '{_stage.Name}' was disposed while it started");
    }

    /// <summary>Awaited at start once connected, before anything is set up on the server: the tests pause the server there.</summary>
    internal Func<Task>? AfterConnectForTest { get; set; }

    /// <summary>The JetStream API's request timeout at start and after (the client's, 5 s, when null): the tests shorten it.</summary>
    internal TimeSpan? JetStreamRequestTimeoutForTest { get; set; }

    /// <summary>The clock of the start's waits between tries of a JetStream setup step (<see cref="JetStreamStartRetry"/>): a fake one in the tests.</summary>
    internal TimeProvider SetupRetryTimeForTest { get; set; } = TimeProvider.System;

    /// <summary>Awaited at start just before it attaches to the stage's topics: the tests dispose the gateway there.</summary>
    internal Func<Task>? BeforeAttachForTest { get; set; }

    /// <summary>Awaited at start just before the gateway decides whether it may use the shared <c>&lt;stage&gt;-any</c>
    /// consumer: the tests hold two gateways there to start them at the same instant.</summary>
    internal Func<Task>? BeforeClaimForTest { get; set; }

    /// <summary>Watches a loop as the gateway's own are watched (the tests end one to see what the gateway says).</summary>
    internal Task WatchForTest(string what, Task loop)
        => (_watch ?? throw new InvalidOperationException("the gateway is not started")).Watch(what, loop);

    private ValueTask OnEventAsync(StageEvent e, CancellationToken cancellationToken)
    {
        switch (e)
        {
            case ConnectedEvent c: _tags.Add(c.ConnectionId, c.Peer); break;
            case DisconnectedEvent d: _tags.Remove(d.ConnectionId); break;
        }
        _outbox?.Event(e);
        return ValueTask.CompletedTask;
    }

    private ValueTask OnStatsAsync(SocketStats stats, CancellationToken cancellationToken)
    {
        _outbox?.Stats(stats);
        return ValueTask.CompletedTask;
    }

    /// <summary>
    /// Detaches from the stage, waits up to 5 s for JetStream publishes still in flight, then closes the NATS
    /// connection. Stop the stage first to publish everything it read. Publishes still unacknowledged after the wait are
    /// counted in <c>ingress_dropped</c> and said in one warning.
    /// </summary>
    public async ValueTask DisposeAsync()
    {
        // After a failed start everything was stopped then (StopAfterFailedStartAsync).
        if (Interlocked.Exchange(ref _state, 2) is 2 or 3)
            return;
        // Stopping: a probe no longer reads connected (it used to, for good, after the dispose).
        _counters.Running = false;
        DetachHandlers();
        if (_ingress is not null)
        {
            using var drain = new CancellationTokenSource(DrainTimeout);
            await _ingress.DrainAsync(drain.Token).ConfigureAwait(false);
        }
        _outbox?.Complete();
        await _stopping.CancelAsync().ConfigureAwait(false);
        if (_ingress is not null)
        {
            // The publishes still unacknowledged end now (their retries stop): once they have, say what they held.
            using var settle = new CancellationTokenSource(DrainTimeout);
            await _ingress.DrainAsync(settle.Token).ConfigureAwait(false);
            _ingress.SayAbandoned();
            // The totals, once, when something was lost: the drop warnings are rate-limited (one per 10 s) and the stats subject
            // and the metrics end with the gateway, so the final ingress_dropped was nowhere to be read after the stop.
            if (Interlocked.Read(ref _counters.IngressDropped) is var dropped and > 0)
                _logger.LogWarning("stage {Stage}: the NATS gateway stopped having published {Published} packet(s) to {Subject} and dropped {Dropped} (ingress_dropped) in all",
                    _stage.Name, Interlocked.Read(ref _counters.IngressPackets), IngressSubject, dropped);
        }
        try
        {
            await Task.WhenAll(_loops).WaitAsync(DrainTimeout).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            _logger.LogDebug(ex, "NATS gateway loops ended with an error");
        }
        if (_nats is not null)
            await CloseConnectionAsync(_nats).ConfigureAwait(false);
        _dropLog?.Dispose();
        _stopping.Dispose();
        // Only now may another gateway of the process take subjects this one's meet.
        GatewaysInProcess.Release(this);
    }
    /// <summary>
    /// An exception's message with its causes': the client's own ("can not start to connect nats server") says nothing of why,
    /// and the why (a refused login: "Authorization Violation") is in what it wraps. The client masks the URL's secret itself.
    /// </summary>
    private static string Causes(Exception ex)
    {
        var said = new List<string>();
        for (var e = ex; e is not null; e = e.InnerException)
            if (e.Message.Length > 0 && !said.Exists(s => s.Contains(e.Message, StringComparison.Ordinal)))
                said.Add(e.Message);
        return string.Join(": ", said);
    }

    /// <summary>
    /// Closes the connection within <see cref="DrainTimeout"/>, whatever the server's state. A paused or stuck server makes
    /// the client's unsubscribes time out: its dispose waited for them (20 s) and then threw <c>NatsTimeoutException</c>,
    /// which escaped the stop and aborted <c>ferry serve</c> (exit 134). The stop is what matters then; the close is said
    /// and left to finish on its own.
    /// </summary>
    private async Task CloseConnectionAsync(NatsConnection nats)
    {
        var closing = nats.DisposeAsync().AsTask();
        try
        {
            await closing.WaitAsync(DrainTimeout).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            _ = closing.ContinueWith(static t => _ = t.Exception, CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted, TaskScheduler.Default);
            _logger.LogWarning("NATS connection to {Url} did not close within {Timeout} s (the server does not answer); the gateway stopped without waiting for it",
                UrlForLog, DrainTimeout.TotalSeconds);
        }
        catch (Exception ex)
        {
            _logger.LogWarning("NATS connection to {Url} closed with an error ({Error}); the gateway stopped all the same", UrlForLog, ex.Message);
        }
    }
}
