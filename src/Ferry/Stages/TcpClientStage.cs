using System.Net;
using Ferry.Bus;
using Ferry.Connections;
using Ferry.Framing;
using Ferry.Stages.Internal;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Ferry.Stages;

/// <summary>
/// A TCP client stage, the mirror of <see cref="TcpServerStage"/>: dials <c>connect</c>, stays
/// connected (reconnecting with exponential back-off and jitter), publishes what the remote sends on
/// <c>&lt;name&gt;/packet_group</c> and sends what arrives on <c>&lt;name&gt;/egress_packets</c>.
/// Egress while disconnected is held (bounded) or dropped. <c>&lt;name&gt;/control</c> close forces a reconnect.
/// </summary>
public sealed class TcpClientStage : IAsyncDisposable, IAnyEgressStage
{
    private readonly StageEngine _core;
    private readonly Dialer _dialer;
    private readonly StageLifecycle _life;

    /// <summary>Validates the options and prepares the stage; nothing is dialled until <see cref="Start"/> or <see cref="ConnectAsync"/>.</summary>
    /// <param name="options">Where to connect and how to frame, group and route.</param>
    /// <param name="bus">Where packet groups, events and statistics go and egress comes from; a new <see cref="InProcessBus"/> when null.</param>
    /// <param name="loggerFactory">Where the stage logs; nothing is logged when null.</param>
    /// <param name="timeProvider">The stage's clock (connect timeout, back-off, idle timeouts, linger, statistics); the system's when null. Tests pass a fake one.</param>
    /// <exception cref="ArgumentNullException"><paramref name="options"/> is null.</exception>
    /// <exception cref="StageOptionsException">An option is invalid; the message names every bad one.</exception>
    /// <exception cref="InvalidOperationException">A stage of the same name already runs on <paramref name="bus"/> (its topics would
    /// merge with this one's); a stage keeps its name until it has stopped, or until it is disposed if it never started.</exception>
    public TcpClientStage(TcpClientStageOptions options, IMessageBus? bus = null, ILoggerFactory? loggerFactory = null, TimeProvider? timeProvider = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        options = options.Snapshot();
        options.Validate();
        Options = options;
        Bus = bus ?? new InProcessBus();
        var logger = (loggerFactory ?? NullLoggerFactory.Instance).CreateLogger("Ferry.Stages.TcpClient." + options.Name);
        if (options.Tls is { Secure: true, AcceptInvalidCertificates: true })
            Log.InsecureTls(logger, options.Name);
        Dialer? dialer = null;
        _core = new StageEngine(this, CoreSettings.From(options), Bus, logger, timeProvider ?? TimeProvider.System,
            engine => dialer = new Dialer(engine, options));
        _dialer = dialer!;
        _life = new StageLifecycle(nameof(TcpClientStage), options.Name);
    }

    /// <summary>The options the stage was built with.</summary>
    public TcpClientStageOptions Options { get; }

    /// <summary>The bus the stage publishes on and takes egress and control commands from.</summary>
    public IMessageBus Bus { get; }

    /// <summary>The stage's name, the prefix of its topics (<see cref="StageTopics"/>).</summary>
    public string Name => Options.Name;

    /// <summary>Whether the stage is connected right now (ready for messages: after TLS and a session handshake). Already true
    /// inside a <see cref="Connected"/> handler, and already false inside a <see cref="Disconnected"/> one.</summary>
    public bool IsConnected => _dialer.IsConnected;

    /// <summary>The current connection's id; <see cref="ConnectionId.None"/> while disconnected.</summary>
    public ConnectionId ConnectionId => _dialer.ConnectionId;

    /// <summary>The remote address of the current connection; null while disconnected.</summary>
    public IPEndPoint? RemoteEndPoint => _dialer.RemoteEndPoint;

    /// <summary>The kernel's id of the service thread (see <c>/proc/self/task/&lt;id&gt;</c>); 0 before start.</summary>
    public int ServiceThreadId => _core.Loop.OsThreadId;

    internal StageEngine Core => _core;

    /// <summary>The connection source (tests replace its resolver).</summary>
    internal Dialer Dialer => _dialer;

    /// <summary>Raised when a connection attempt starts.</summary>
    public event EventHandler<ConnectingEvent>? Connecting { add => _core.Events.Connecting += value; remove => _core.Events.Connecting -= value; }
    /// <summary>Raised when an attempt fails or a connection is lost, with the wait before the next attempt.</summary>
    public event EventHandler<ConnectFailedEvent>? ConnectFailed { add => _core.Events.ConnectFailed += value; remove => _core.Events.ConnectFailed -= value; }
    /// <summary>Raised when a connection is ready for messages (after the handshake for a session framing).</summary>
    public event EventHandler<ConnectedEvent>? Connected { add => _core.Events.Connected += value; remove => _core.Events.Connected -= value; }
    /// <summary>Raised when a connection ends, and for a connection refused over the limit.</summary>
    public event EventHandler<DisconnectedEvent>? Disconnected { add => _core.Events.Disconnected += value; remove => _core.Events.Disconnected -= value; }
    /// <summary>Raised when something fails and the stage goes on (see <see cref="StageErrorKind"/>).</summary>
    public event EventHandler<StageErrorEvent>? Error { add => _core.Events.Error += value; remove => _core.Events.Error -= value; }
    /// <summary>Raised once when the stage has stopped and its service thread is ending.</summary>
    public event EventHandler<ClosedEvent>? Closed { add => _core.Events.Closed += value; remove => _core.Events.Closed -= value; }
    /// <summary>Raised every <c>stats_interval</c> with the figures also published on <c>&lt;name&gt;/socket_stats</c>.</summary>
    public event EventHandler<SocketStats>? StatsPublished { add => _core.Events.StatsPublished += value; remove => _core.Events.StatsPublished -= value; }

    /// <summary>
    /// Serves each connection the stage dials (every reconnect is a new one) with its own
    /// <paramref name="handler"/>, as <see cref="TcpServerStage.MapConnections"/> does; call before starting.
    /// </summary>
    /// <exception cref="ArgumentNullException"><paramref name="handler"/> is null.</exception>
    /// <exception cref="ArgumentOutOfRangeException">An option is out of its range (the message names it and what is allowed).</exception>
    /// <exception cref="InvalidOperationException">The stage has started, or already has a connection handler.</exception>
    public void MapConnections(ConnectionHandler handler, ConnectionHandlerOptions? options = null) => _core.MapConnections(handler, options ?? new ConnectionHandlerOptions());


    /// <summary>Starts the service thread, which dials (and redials) in the background. Returns at once.
    /// A stage starts once: after <see cref="StopAsync"/> (even before any start) or <see cref="DisposeAsync"/> make a new one.</summary>
    /// <exception cref="InvalidOperationException">The stage was already started, or was stopped.</exception>
    /// <exception cref="ObjectDisposedException">The stage was disposed.</exception>
    public void Start() => _life.Start(_core.Start);

    /// <summary>Starts the stage if needed and waits until it is connected; the token bounds the wait.</summary>
    /// <returns>The remote address connected to.</returns>
    /// <exception cref="IOException">The stage gave up (<see cref="TcpClientStageOptions.ReconnectAttempts"/> used up).</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled (the stage keeps dialling),
    /// or the stage was stopped or disposed while waiting (the message says which).</exception>
    /// <exception cref="InvalidOperationException">The stage was stopped before it started.</exception>
    /// <exception cref="ObjectDisposedException">The stage was disposed.</exception>
    public async Task<IPEndPoint> ConnectAsync(CancellationToken cancellationToken = default)
    {
        // The wait is taken before the start: a wait taken once the stage is connected answers at once, and on a busy machine
        // the service thread could be inside the Connected handlers by then; this one resumes after them. Should the start
        // throw (the stage was stopped or disposed), the wait is cancelled, which leaves nothing unobserved.
        var connected = WaitConnectedAsync(cancellationToken);
        _life.Start(_core.Start, againIsError: false);
        return await connected.ConfigureAwait(false);
    }

    /// <summary>Completes when the stage is connected (at once if it is); fails with <see cref="IOException"/> if it gives up
    /// (<c>reconnect_attempts</c>), and is cancelled (<see cref="OperationCanceledException"/> saying so) when the stage is
    /// stopped or disposed first, also when it never started.</summary>
    /// <remarks>
    /// Asked while connected, a <see cref="Connected"/> handler included, it is complete; from the moment a connection is
    /// lost, a <see cref="Disconnected"/> handler included, it waits for the next one. A wait begun before resumes once the
    /// event's handlers have run. It is cancelled by a stop only once the stage has stopped (as <see cref="StopAsync"/>
    /// completes: every event raised and the stage's name free on its bus).
    /// </remarks>
    public Task<IPEndPoint> WaitConnectedAsync(CancellationToken cancellationToken = default)
        => _life.WaitAsync(ConnectionReady(), "connected", cancellationToken);

    /// <summary>The dialler's wait, a cancellation by the stop held back until the stage has stopped.</summary>
    private Task<IPEndPoint> ConnectionReady()
    {
        var connected = _dialer.WaitConnectedAsync(CancellationToken.None);
        return connected.IsCompletedSuccessfully || connected.IsFaulted || _core.Stopped.IsCompleted ? connected : ConnectionReadyAsync(connected);
    }

    private async Task<IPEndPoint> ConnectionReadyAsync(Task<IPEndPoint> connected)
    {
        try
        {
            return await connected.ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            // The dialler is cancelled while the loop still runs: the stage's Closed event and the release of its name
            // come after. Whoever hears of the stop would otherwise find the stage still stopping.
            await _core.Stopped.ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>
    /// Sends one message to the remote, encoded with the stage's framing. While disconnected (before the stage is started too) it is
    /// held for the next connection (<see cref="DisconnectedEgressPolicy.Hold"/>, up to
    /// <see cref="TcpClientStageOptions.EgressBufferBytes"/> of encoded messages: the oldest held messages are dropped
    /// to make room for a new one, and a message larger than that bound by itself is dropped) or dropped
    /// (<see cref="DisconnectedEgressPolicy.Drop"/>). Completes with true when the connection took the message
    /// or it is held, false when it was dropped: by the overflow policy, by the disconnected policy, for its
    /// size, or because no connection will come (the stage was stopped, or gave up after
    /// <see cref="TcpClientStageOptions.ReconnectAttempts"/>). Every dropped message, held ones dropped to
    /// make room included, is counted in the dropped counters. The payload is copied before the task completes.
    /// </summary>
    /// <exception cref="FramingException">The task fails with it: the framing cannot encode the payload (e.g. over <c>max_frame_bytes</c>).</exception>
    /// <exception cref="OperationCanceledException">The task ends with it: <paramref name="cancellationToken"/> was cancelled before the
    /// call (nothing is sent, held or counted) or while the message waited for room.</exception>
    public ValueTask<bool> SendAsync(ReadOnlyMemory<byte> payload, FrameFields fields = default, CancellationToken cancellationToken = default)
    {
        if (cancellationToken.IsCancellationRequested)
            return ValueTask.FromCanceled<bool>(cancellationToken);
        if (_life.IsStopped || _dialer.GaveUp)
        {
            _core.Counters.CountDropped(payload.Length);
            return new ValueTask<bool>(false);
        }
        return Taken(EgressMessage.ToAll(payload, fields), cancellationToken, heldCounts: true);
    }

    /// <summary>
    /// A send on one connection before the stage started is the caller's mistake (no id of this stage's exists yet), told at once,
    /// as the other misuses of its life (a second <see cref="Start"/>, <see cref="MapConnections"/> after it) are: it was counted in
    /// <c>egress_unknown_target</c>, which sends the operator looking for a connection that closed. A send to the remote before
    /// the start is a send while disconnected (held for the first connection, or dropped, by the policy), which is how a message
    /// is made sure to be the first one written. A stop is another matter: senders on other threads cannot know of it, so after it
    /// sends are answered false and counted. The bus's <c>egress_packets</c> does not come through here.
    /// </summary>
    private void ThrowIfNotStarted()
    {
        if (!_core.Loop.Started && !_life.IsStopped)
            throw new InvalidOperationException($"stage '{Name}' is not started; call Start or ConnectAsync before sending");
    }

    /// <summary>The bool sends' answer, taken or not; what the router throws (a payload the framing refuses) is in the task.</summary>
    private async ValueTask<bool> Taken(EgressMessage message, CancellationToken cancellationToken, bool heldCounts = false)
        => await _core.Router.RouteAsync(message, cancellationToken, heldCounts).ConfigureAwait(false) == 1;

    /// <summary>
    /// Sends one message on one connection only: <paramref name="connection"/>, the id this stage's
    /// <see cref="ConnectionId"/> or <see cref="Connected"/> event gave. Completes with false, and sends nothing, when that
    /// connection has closed (or is not this stage's): the message is never held for, nor sent on, a later connection.
    /// For a protocol whose every connection starts with its own greeting, a message of a dropped connection must not
    /// open the next one, which <see cref="SendAsync"/> (to whichever connection is current) cannot promise. The overflow policy applies as for any send; the payload is copied before
    /// the task completes.
    /// </summary>
    /// <exception cref="FramingException">The task fails with it: the framing cannot encode the payload (e.g. over <c>max_frame_bytes</c>).</exception>
    /// <exception cref="OperationCanceledException">The task ends with it: <paramref name="cancellationToken"/> was cancelled before the
    /// call (nothing is sent or counted) or while the message waited for room.</exception>
    /// <exception cref="InvalidOperationException">The stage has not been started (<see cref="Start"/>, <see cref="ConnectAsync"/>): none
    /// of its connections can exist yet, so <paramref name="connection"/> is a stale id or another stage's. After a stop the send is
    /// answered false and counted.</exception>
    public ValueTask<bool> SendToConnectionAsync(ConnectionId connection, ReadOnlyMemory<byte> payload, FrameFields fields = default, CancellationToken cancellationToken = default)
    {
        ThrowIfNotStarted();
        if (cancellationToken.IsCancellationRequested)
            return ValueTask.FromCanceled<bool>(cancellationToken);
        if (_life.IsStopped)
        {
            _core.Counters.CountDropped(payload.Length);
            return new ValueTask<bool>(false);
        }
        return Taken(EgressMessage.To(connection, payload, fields), cancellationToken);
    }

    /// <summary>
    /// Sends one message to the remote, as <see cref="SendAsync"/> does, and completes with what became of it, decided as the
    /// stage hands it over: <see cref="SendOutcome.Queued"/> (in the connection's egress buffer), <see cref="SendOutcome.Held"/>
    /// (not connected: held for the next connection under <see cref="DisconnectedEgressPolicy.Hold"/>; no connection's buffer has
    /// it yet, and a later message may still push it out of the hold), <see cref="SendOutcome.Dropped"/> (connected, but the
    /// overflow policy dropped it: the buffer was full, the wait timed out, or the connection is closed as a slow consumer) or
    /// <see cref="SendOutcome.NoConnection"/> (not connected and not held: the policy is <see cref="DisconnectedEgressPolicy.Drop"/>,
    /// the message alone is over the hold's bound, or no connection will come because the stage was stopped or gave up
    /// after <see cref="TcpClientStageOptions.ReconnectAttempts"/>). Each of the last two is counted in the dropped counters, as
    /// <see cref="SendAsync"/> counts it. A caller that must know the bytes reached a connection's buffer waits for
    /// <see cref="SendOutcome.Queued"/>; <see cref="SendAsync"/>'s true means queued or held. The payload is copied before the
    /// task completes.
    /// </summary>
    /// <param name="payload">The message, encoded with the stage's framing.</param>
    /// <param name="fields">The framing's header fields.</param>
    /// <param name="cancellationToken">Ends a wait for room (the <see cref="EgressOverflowPolicy.Wait"/> policy); already cancelled, the send does nothing.</param>
    /// <returns>What became of the message (see <see cref="SendOutcome"/>).</returns>
    /// <exception cref="FramingException">The task fails with it: the framing cannot encode the payload (e.g. over <c>max_frame_bytes</c>).</exception>
    /// <exception cref="OperationCanceledException">The task ends with it: <paramref name="cancellationToken"/> was cancelled before the
    /// call (nothing is sent, held or counted) or while the message waited for room.</exception>
    public ValueTask<SendOutcome> SendWithOutcomeAsync(ReadOnlyMemory<byte> payload, FrameFields fields = default, CancellationToken cancellationToken = default)
    {
        if (cancellationToken.IsCancellationRequested)
            return ValueTask.FromCanceled<SendOutcome>(cancellationToken);
        if (_life.IsStopped || _dialer.GaveUp)
            return NoConnectionWillCome(payload.Length);
        try
        {
            return _core.Router.SendToCurrentAsync(EgressMessage.ToAll(payload, fields), cancellationToken);
        }
        catch (Exception ex)
        {
            return ValueTask.FromException<SendOutcome>(ex);
        }
    }

    /// <summary>
    /// Sends one message on one connection only, as <see cref="SendToConnectionAsync"/> does (never held for, nor sent on, a
    /// later connection), and completes with what became of it: <see cref="SendOutcome.Queued"/>, <see cref="SendOutcome.Dropped"/>
    /// (the overflow policy dropped it) or <see cref="SendOutcome.NoConnection"/> (that connection has closed or is closing, is
    /// not this stage's, has not finished its handshake, or the stage was stopped). Never <see cref="SendOutcome.Held"/>.
    /// The payload is copied before the task completes.
    /// </summary>
    /// <param name="connection">The connection, as <see cref="ConnectionId"/> or the <see cref="Connected"/> event gave it.</param>
    /// <param name="payload">The message, encoded with the stage's framing.</param>
    /// <param name="fields">The framing's header fields.</param>
    /// <param name="cancellationToken">Ends a wait for room (the <see cref="EgressOverflowPolicy.Wait"/> policy); already cancelled, the send does nothing.</param>
    /// <returns>What became of the message (see <see cref="SendOutcome"/>).</returns>
    /// <exception cref="FramingException">The task fails with it: the framing cannot encode the payload (e.g. over <c>max_frame_bytes</c>).</exception>
    /// <exception cref="OperationCanceledException">The task ends with it: <paramref name="cancellationToken"/> was cancelled before the
    /// call (nothing is sent, held or counted) or while the message waited for room.</exception>
    /// <exception cref="InvalidOperationException">The stage has not been started (see <see cref="SendToConnectionAsync"/>).</exception>
    public ValueTask<SendOutcome> SendToConnectionWithOutcomeAsync(ConnectionId connection, ReadOnlyMemory<byte> payload, FrameFields fields = default,
        CancellationToken cancellationToken = default)
    {
        ThrowIfNotStarted();
        if (cancellationToken.IsCancellationRequested)
            return ValueTask.FromCanceled<SendOutcome>(cancellationToken);
        if (_life.IsStopped)
            return NoConnectionWillCome(payload.Length);
        try
        {
            return _core.Router.SendAsync(EgressMessage.To(connection, payload, fields), cancellationToken);
        }
        catch (Exception ex)
        {
            return ValueTask.FromException<SendOutcome>(ex);
        }
    }

    /// <summary>Stopped, or gave up: the message is dropped and counted, as the bool sends do.</summary>
    private ValueTask<SendOutcome> NoConnectionWillCome(int payloadLength)
    {
        _core.Counters.CountDropped(payloadLength);
        return new ValueTask<SendOutcome>(SendOutcome.NoConnection);
    }

    /// <summary>Drops the current connection (reason <c>killed</c>, detail <paramref name="reason"/>); the stage reconnects as
    /// after any loss. False when not connected.</summary>
    public bool Reconnect(string? reason = null) => _core.RequestClose(ConnectionId, DisconnectReason.Killed, reason);

    /// <summary>Totals as of now (rates are zero: they are published every <c>stats_interval</c>).</summary>
    public SocketStats GetStats() => _core.Snapshot();

    /// <summary>The current connection's row (id, peer, times, traffic, egress); empty while disconnected.</summary>
    public IReadOnlyList<ConnectionInfo> GetConnections() => _core.GetConnections();

    /// <summary>
    /// Stops gracefully: stops dialling, lets queued egress drain for up to the grace period, then closes
    /// the connection. A connection handler's token is cancelled and it is waited for within the grace period
    /// too (one still running then is reported and abandoned). Cancelling the token cuts the grace period
    /// short. Completes when the service thread has ended; safe to call more than once and before <see cref="Start"/>. A pending
    /// <see cref="WaitConnectedAsync"/> or <see cref="ConnectAsync"/> is cancelled and <see cref="SendAsync"/>
    /// returns false from then on. The stage does not start again: a later <see cref="Start"/> or
    /// <see cref="ConnectAsync"/> throws <see cref="InvalidOperationException"/> when it had not started.
    /// </summary>
    public Task StopAsync(CancellationToken cancellationToken = default) => Stop(dispose: false, cancellationToken);

    private Task Stop(bool dispose, CancellationToken cancellationToken)
    {
        // Never started: no service loop will end and cancel the waiters, so they are cancelled here.
        if (_life.Stop(dispose))
            _dialer.Stopped();
        return _core.StopAsync(cancellationToken);
    }

    bool IAnyEgressStage.TrySendToAnyNow(ReadOnlySpan<byte> payload, in FrameFields fields) => _core.Any.TryEnqueue(payload, fields, out _) == AnyOutcome.Queued;

    ValueTask<(AnyOutcome Outcome, Connection? Owed)> IAnyEgressStage.SendToAnyAsync(ReadOnlyMemory<byte> payload, FrameFields fields, TimeSpan timeout,
        CancellationToken cancellationToken) => _core.Any.SendAsync(payload, fields, timeout, cancellationToken);

    void IAnyEgressStage.CountGivenUp(Connection owed, int payloadLength) => _core.Any.CountGivenUp(owed, payloadLength);

    Task IAnyEgressStage.WhenRoomForAny(int payloadLength) => _core.Any.WhenRoom(payloadLength);

    bool IAnyEgressStage.BeginSendBatch() => _core.Writer.BeginCallerBatch();

    void IAnyEgressStage.EndSendBatch() => _core.Writer.EndCallerBatch();

    long IAnyEgressStage.QueuedEgressBytes => _core.QueuedEgressBytes();

    /// <summary>Stops the stage (<see cref="StopAsync"/> with the full grace period); afterwards <see cref="Start"/>
    /// and <see cref="ConnectAsync"/> throw <see cref="ObjectDisposedException"/>.</summary>
    public async ValueTask DisposeAsync()
    {
        await Stop(dispose: true, CancellationToken.None).ConfigureAwait(false);
        _core.Dispose();
    }
}
