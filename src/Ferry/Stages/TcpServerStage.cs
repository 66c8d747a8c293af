using System.Net;
using Ferry.Bus;
using Ferry.Connections;
using Ferry.Stages.Internal;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Ferry.Stages;

/// <summary>
/// A TCP server stage: accepts clients, frames what they send into packets, publishes packet
/// groups on <c>&lt;name&gt;/packet_group</c>, writes what arrives on <c>&lt;name&gt;/egress_packets</c>
/// back to clients, and publishes <c>&lt;name&gt;/socket_stats</c> and <c>&lt;name&gt;/events</c>.
/// </summary>
/// <example>
/// <code>
/// var bus = new InProcessBus();
/// await using var stage = new TcpServerStage(new TcpServerStageOptions { Bind = ":9000" }, bus);
/// using var packets = bus.Topic&lt;PacketGroup&gt;("tcp_server/packet_group").SubscribeQueue();
/// await stage.StartAsync();
/// await foreach (var group in packets) { ... }
/// </code>
/// </example>
public sealed class TcpServerStage : IAsyncDisposable, IAnyEgressStage
{
    private readonly StageEngine _core;
    private readonly Acceptor _acceptor;
    private readonly StageLifecycle _life;

    /// <summary>Validates the options and prepares the stage; nothing is bound until <see cref="Start"/> or <see cref="StartAsync"/>.</summary>
    /// <param name="options">What to listen on and how to frame, group and route.</param>
    /// <param name="bus">Where packet groups, events and statistics go and egress comes from; a new <see cref="InProcessBus"/> when null.</param>
    /// <param name="loggerFactory">Where the stage logs; nothing is logged when null.</param>
    /// <param name="timeProvider">The stage's clock (idle timeouts, linger, statistics, bind retry, egress waits); the system's when null. Tests pass a fake one.</param>
    /// <exception cref="ArgumentNullException"><paramref name="options"/> is null.</exception>
    /// <exception cref="StageOptionsException">An option is invalid; the message names every bad one.</exception>
    /// <exception cref="InvalidOperationException">A stage of the same name already runs on <paramref name="bus"/> (its topics would
    /// merge with this one's); a stage keeps its name until it has stopped, or until it is disposed if it never started.</exception>
    public TcpServerStage(TcpServerStageOptions options, IMessageBus? bus = null, ILoggerFactory? loggerFactory = null, TimeProvider? timeProvider = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        options = options.Snapshot();
        options.Validate();
        Options = options;
        Bus = bus ?? new InProcessBus();
        var logger = (loggerFactory ?? NullLoggerFactory.Instance).CreateLogger("Ferry.Stages.TcpServer." + options.Name);
        if (options.Tls is { Secure: true, AcceptInvalidCertificates: true })
            Log.InsecureServerTls(logger, options.Name);
        Acceptor? acceptor = null;
        _core = new StageEngine(this, CoreSettings.From(options), Bus, logger, timeProvider ?? TimeProvider.System,
            engine => acceptor = new Acceptor(engine, options));
        _acceptor = acceptor!;
        _life = new StageLifecycle(nameof(TcpServerStage), options.Name);
    }

    /// <summary>The options the stage was built with.</summary>
    public TcpServerStageOptions Options { get; }

    /// <summary>The bus the stage publishes on and takes egress and control commands from.</summary>
    public IMessageBus Bus { get; }

    /// <summary>The stage's name, the prefix of its topics (<see cref="StageTopics"/>).</summary>
    public string Name => Options.Name;

    /// <summary>The bound address once listening (with the real port when port 0 was asked for).</summary>
    public IPEndPoint? LocalEndPoint => _acceptor.LocalEndPoint;

    /// <summary>Connections open now.</summary>
    public int ConnectionCount => _core.ConnectionCount;

    /// <summary>The kernel's id of the service thread (see <c>/proc/self/task/&lt;id&gt;</c>); 0 before start.</summary>
    public int ServiceThreadId => _core.Loop.OsThreadId;

    /// <summary>Raised when the stage is bound and accepting, once per listener it builds; <see cref="LocalEndPoint"/> is set and
    /// <see cref="WaitListeningAsync"/> complete by then.</summary>
    public event EventHandler<ListeningEvent>? Listening { add => _core.Events.Listening += value; remove => _core.Events.Listening -= value; }
    /// <summary>Raised when a connection is ready for messages (after the handshake for a session framing).</summary>
    public event EventHandler<ConnectedEvent>? Connected { add => _core.Events.Connected += value; remove => _core.Events.Connected -= value; }
    /// <summary>Raised when a connection ends, and for a connection refused over the limit.</summary>
    public event EventHandler<DisconnectedEvent>? Disconnected { add => _core.Events.Disconnected += value; remove => _core.Events.Disconnected -= value; }
    /// <summary>Raised when something fails and the stage goes on (see <see cref="StageErrorKind"/>).</summary>
    public event EventHandler<StageErrorEvent>? Error { add => _core.Events.Error += value; remove => _core.Events.Error -= value; }
    /// <summary>Raised once when the stage has stopped and its service thread is ending.</summary>
    public event EventHandler<ClosedEvent>? Closed { add => _core.Events.Closed += value; remove => _core.Events.Closed -= value; }
    /// <summary>Raised when a connection joins a group (on the thread that joined it).</summary>
    public event EventHandler<GroupMembershipEvent>? JoinedGroup { add => _core.Events.JoinedGroup += value; remove => _core.Events.JoinedGroup -= value; }
    /// <summary>Raised when a connection leaves a group, also when it closes while a member (then on the service thread, before <see cref="Disconnected"/>).</summary>
    public event EventHandler<GroupMembershipEvent>? LeftGroup { add => _core.Events.LeftGroup += value; remove => _core.Events.LeftGroup -= value; }
    /// <summary>Raised every <c>stats_interval</c> with the figures also published on <c>&lt;name&gt;/socket_stats</c>.</summary>
    public event EventHandler<SocketStats>? StatsPublished { add => _core.Events.StatsPublished += value; remove => _core.Events.StatsPublished -= value; }

    /// <summary>
    /// Serves every connection with its own <paramref name="handler"/> (the per-connection model), beside
    /// the packet-group model: <c>packet_group</c> subscribers, if any, still see every packet. Each
    /// handler reads its connection's messages (each valid until its loop moves on; see <see cref="ConnectionMessage"/>) from a
    /// bounded inbox (<see cref="ConnectionHandlerOptions.MaxQueuedMessages"/>, <see cref="ConnectionHandlerOptions.MaxQueuedBytes"/>); while it is full only that connection stops
    /// being read. Handlers run on the thread pool unless <see cref="ConnectionHandlerOptions.Scheduling"/> is
    /// <see cref="HandlerScheduling.Inline"/> (see its remarks before choosing it). Call before starting the stage; one handler per stage.
    /// </summary>
    /// <param name="handler">Serves one connection; its end closes the connection.</param>
    /// <param name="options">Inbox size and scheduling; null for the defaults.</param>
    /// <exception cref="ArgumentNullException"><paramref name="handler"/> is null.</exception>
    /// <exception cref="ArgumentOutOfRangeException">An option is out of its range (the message names it and what is allowed).</exception>
    /// <exception cref="InvalidOperationException">The stage has started, or already has a connection handler.</exception>
    public void MapConnections(ConnectionHandler handler, ConnectionHandlerOptions? options = null) => _core.MapConnections(handler, options ?? new ConnectionHandlerOptions());


    /// <summary>Starts the service thread, which binds (retrying as <see cref="TcpServerStageOptions.BindAttempts"/> allows) and serves. Returns at once.
    /// A stage starts once: after <see cref="StopAsync"/> (even before any start) or <see cref="DisposeAsync"/> make a new one.</summary>
    /// <exception cref="InvalidOperationException">The stage was already started, or was stopped.</exception>
    /// <exception cref="ObjectDisposedException">The stage was disposed.</exception>
    public void Start() => _life.Start(_core.Start);

    /// <summary>Starts the stage and waits until it is listening (bind failures are retried meanwhile).</summary>
    /// <returns>The bound address, with the real port when port 0 was asked for.</returns>
    /// <exception cref="InvalidOperationException">The stage was already started, or was stopped.</exception>
    /// <exception cref="ObjectDisposedException">The stage was disposed.</exception>
    /// <exception cref="IOException">Binding failed <see cref="TcpServerStageOptions.BindAttempts"/> times; the stage has stopped (its
    /// <see cref="StopAsync"/> has completed and its name is free).</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled; the stage keeps trying to bind.</exception>
    public async Task<IPEndPoint> StartAsync(CancellationToken cancellationToken = default)
    {
        // The wait is taken before the start: a wait taken once the stage listens answers at once, and on a busy machine
        // the service thread could be inside the Listening handlers by then; this one resumes after them.
        var listening = WaitListeningAsync(cancellationToken);
        try
        {
            Start();
        }
        catch
        {
            // Already started or stopped: the start's own error is the answer; the wait's outcome is nobody's.
            _ = listening.ContinueWith(static t => t.Exception, CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted, TaskScheduler.Default);
            throw;
        }
        return await listening.ConfigureAwait(false);
    }

    /// <summary>Completes with the bound address when the stage first listens; fails with <see cref="IOException"/>
    /// when it gives up binding, and is cancelled (<see cref="OperationCanceledException"/> saying so) when the stage is
    /// stopped or disposed before listening, also when it never started.</summary>
    /// <remarks>
    /// Asked from the moment the stage listens, it is complete, also inside a <see cref="Listening"/> handler (where
    /// <see cref="LocalEndPoint"/> is set too); a wait begun before resumes once the event's handlers have run. It fails or is cancelled only once the stage has stopped (as
    /// <see cref="StopAsync"/> completes: every event raised, <see cref="Closed"/> included, and the stage's name free on its
    /// bus): a caller who hears of the failure may at once start a stage of the same name. Asked after the stop, it ends at once.
    /// </remarks>
    public Task<IPEndPoint> WaitListeningAsync(CancellationToken cancellationToken = default)
        => _life.WaitAsync(Listened(), "listened", cancellationToken);

    /// <summary>The acceptor's outcome, a failure or cancellation held back until the stage has stopped.</summary>
    private Task<IPEndPoint> Listened()
    {
        var listening = _acceptor.ListeningTask;
        // Once the loop has ended, the acceptor has given its outcome (it does so before the loop's end): it stands as it is.
        return listening.IsCompletedSuccessfully || _core.Stopped.IsCompleted ? listening : ListenedAsync(listening);
    }

    private async Task<IPEndPoint> ListenedAsync(Task<IPEndPoint> listening)
    {
        try
        {
            return await listening.ConfigureAwait(false);
        }
        catch (Exception) when (!listening.IsCompletedSuccessfully)
        {
            // The acceptor gives up (or is cancelled) while the loop still runs: its stop, its Closed event and the release of
            // the stage's name come after. Whoever hears of the failure would otherwise find the stage still stopping, and a
            // new stage of the same name on the same bus refused.
            await _core.Stopped.ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>Totals as of now (rates are zero: they are published every <c>stats_interval</c>).</summary>
    public SocketStats GetStats() => _core.Snapshot();

    /// <summary>
    /// Sends one message to one connection, encoded with the stage's framing. Completes with false
    /// when that connection is unknown or closed, or the message was dropped by the overflow policy
    /// (<see cref="SendWithOutcomeAsync"/> tells which).
    /// The payload is copied before the task completes.
    /// </summary>
    /// <exception cref="Framing.FramingException">The task fails with it: the framing cannot encode the payload (e.g. over <c>max_frame_bytes</c>).</exception>
    /// <exception cref="OperationCanceledException">The task ends with it: <paramref name="cancellationToken"/> was cancelled before the
    /// call (nothing is sent, nothing counted) or while the message waited for room.</exception>
    /// <exception cref="InvalidOperationException">The stage has not been started (<see cref="Start"/>, <see cref="StartAsync"/>): none of
    /// its connections can exist yet, so <paramref name="connection"/> is a stale id or another stage's. After a stop a send is answered
    /// as for a connection that is gone. (Sends to everyone, any one or a group are answered before the start as while nobody is
    /// connected: held under <see cref="TcpServerStageOptions.QueueWhenDisconnected"/>, otherwise dropped and counted.)</exception>
    public ValueTask<bool> SendAsync(ConnectionId connection, ReadOnlyMemory<byte> payload, Framing.FrameFields fields = default, CancellationToken cancellationToken = default)
    {
        ThrowIfNotStarted();
        return Queued(Send(EgressMessage.To(connection, payload, fields), cancellationToken));
    }

    /// <summary>
    /// A send to one connection before the stage started is the caller's mistake (no id of this stage's exists yet), told at once,
    /// as the other misuses of its life (a second <see cref="Start"/>, <see cref="MapConnections"/> after it) are. Answered as "no
    /// connection" it was counted in <c>egress_unknown_target</c>, which sends the operator looking for a client that left rather
    /// than for the code that sent too early. Sends to everyone, any one or a group mean "whoever is there" and are answered as
    /// while nobody is connected (held for the first client under <c>queue_when_disconnected</c>), as the client stage holds what
    /// is sent before its start. A stop is another matter: senders on other threads cannot know of it, so after it sends are
    /// answered as for connections that are gone. The bus's <c>egress_packets</c> and the NATS gateway (started before its stage,
    /// as its docs say) do not come through here.
    /// </summary>
    private void ThrowIfNotStarted()
    {
        if (!_core.Loop.Started && !_life.IsStopped)
            throw new InvalidOperationException($"stage '{Name}' is not started; call Start or StartAsync before sending");
    }

    /// <summary>
    /// The send of the NATS gateway, which starts before its stage (so that no packet is published before NATS is ready): a message
    /// that comes before the stage has started is routed as to nobody (held for the first client under
    /// <c>queue_when_disconnected</c>), as it always was. Its token is the gateway's stop, and a message it took before stopping is
    /// routed as it always was.
    /// </summary>
    internal ValueTask<SendOutcome> SendFromGatewayAsync(EgressMessage message, CancellationToken cancellationToken) => Hand(message, cancellationToken);

    /// <summary>A send to one connection or any one, a token already cancelled ending it before anything is queued or counted, as
    /// .NET's own sends do.</summary>
    private ValueTask<SendOutcome> Send(in EgressMessage message, CancellationToken cancellationToken)
        => cancellationToken.IsCancellationRequested ? ValueTask.FromCanceled<SendOutcome>(cancellationToken) : Hand(message, cancellationToken);

    /// <summary>Hands a message to the router; what it throws (a payload the framing refuses) is in the task it returns, as
    /// the sends have always done, not thrown at the caller.</summary>
    private ValueTask<SendOutcome> Hand(in EgressMessage message, CancellationToken cancellationToken)
    {
        try
        {
            return _core.Router.SendAsync(message, cancellationToken);
        }
        catch (Exception ex)
        {
            return ValueTask.FromException<SendOutcome>(ex);
        }
    }

    /// <summary>The bool sends' answer: no async state machine when the send completed at once (always, but under the wait policy with a full buffer).</summary>
    private static ValueTask<bool> Queued(ValueTask<SendOutcome> sending)
        => sending.IsCompletedSuccessfully ? new ValueTask<bool>(sending.Result == SendOutcome.Queued) : QueuedAsync(sending);

    private static async ValueTask<bool> QueuedAsync(ValueTask<SendOutcome> sending) => await sending.ConfigureAwait(false) == SendOutcome.Queued;

    /// <summary>
    /// Sends one message to its target, as <see cref="SendAsync"/>, <see cref="SendToAnyAsync"/>, <see cref="BroadcastAsync"/> and
    /// <see cref="SendToGroupAsync"/> do, and completes with what became of it: queued, no open connection to take it, or
    /// dropped by the overflow policy. The stage decides it as it hands the message over, so the answer holds even when a
    /// connection closes at that moment (asking <see cref="GetConnections"/> or <see cref="ConnectionCount"/> afterwards would
    /// not tell a full buffer from a client just gone). For everyone or a group: queued when at least one connection took it,
    /// dropped when there were connections and every one had it dropped, otherwise no connection (use
    /// <see cref="BroadcastAsync"/> or <see cref="SendToGroupAsync"/> for how many took it).
    /// The payload is copied before the task completes.
    /// </summary>
    /// <param name="message">What to send and to whom (<see cref="EgressMessage.To"/>, <see cref="EgressMessage.ToAny"/>,
    /// <see cref="EgressMessage.ToAll"/>, <see cref="EgressMessage.ToGroup"/>).</param>
    /// <param name="cancellationToken">Ends a wait for room (the <see cref="EgressOverflowPolicy.Wait"/> policy); already cancelled, the send does nothing.</param>
    /// <returns>What became of the message (see <see cref="SendOutcome"/>).</returns>
    /// <exception cref="Framing.FramingException">The task fails with it: the framing cannot encode the payload (e.g. over <c>max_frame_bytes</c>).</exception>
    /// <exception cref="OperationCanceledException">The task ends with it: <paramref name="cancellationToken"/> was cancelled before the
    /// call (nothing is sent, nothing counted) or while the message waited for room.</exception>
    /// <exception cref="ArgumentException"><paramref name="message"/> is for a group and its <see cref="EgressMessage.Group"/> is null,
    /// empty or white space (a name no group can have).</exception>
    /// <exception cref="InvalidOperationException"><paramref name="message"/> is for one connection and the stage has not been started
    /// (see <see cref="SendAsync"/>).</exception>
    public ValueTask<SendOutcome> SendWithOutcomeAsync(EgressMessage message, CancellationToken cancellationToken = default)
    {
        if (message.Target == EgressTargetKind.Group && string.IsNullOrWhiteSpace(message.Group))
            throw new ArgumentException($"a message to a group needs the group's name; Group is {(message.Group is null ? "null" : $"'{message.Group}'")}", nameof(message));
        if (message.Target == EgressTargetKind.Connection)
            ThrowIfNotStarted();
        return Send(message, cancellationToken);
    }

    /// <summary>Sends one message to every connection, optionally except one (the sender); completes with how many took it.</summary>
    /// <exception cref="Framing.FramingException">The task fails with it: the framing cannot encode the payload.</exception>
    /// <exception cref="OperationCanceledException">The task ends with it: <paramref name="cancellationToken"/> was cancelled before the
    /// call (nothing is sent, nothing counted) or while the message waited for room.</exception>
    public ValueTask<int> BroadcastAsync(ReadOnlyMemory<byte> payload, Framing.FrameFields fields = default, ConnectionId except = default, CancellationToken cancellationToken = default)
    {
        return Route(EgressMessage.ToAll(payload, fields, except), cancellationToken);
    }

    /// <summary>Sends one message to every member of a group, optionally except one; completes with how many took it (0 when the group does not exist).</summary>
    /// <exception cref="ArgumentNullException"><paramref name="group"/> is null.</exception>
    /// <exception cref="ArgumentException"><paramref name="group"/> is empty or white space (a name no group can have, as <see cref="JoinGroup"/> refuses it).</exception>
    /// <exception cref="Framing.FramingException">The task fails with it: the framing cannot encode the payload.</exception>
    /// <exception cref="OperationCanceledException">The task ends with it: <paramref name="cancellationToken"/> was cancelled before the
    /// call (nothing is sent, nothing counted) or while the message waited for room.</exception>
    public ValueTask<int> SendToGroupAsync(string group, ReadOnlyMemory<byte> payload, Framing.FrameFields fields = default, ConnectionId except = default, CancellationToken cancellationToken = default)
    {
        GroupRegistry.ValidateName(group);
        return Route(EgressMessage.ToGroup(group, payload, fields, except), cancellationToken);
    }

    /// <summary>A send to several connections, counted; its failure in the task, and a cancelled token honoured first, as <see cref="Send"/>.</summary>
    private ValueTask<int> Route(in EgressMessage message, CancellationToken cancellationToken)
    {
        if (cancellationToken.IsCancellationRequested)
            return ValueTask.FromCanceled<int>(cancellationToken);
        try
        {
            return _core.Router.RouteAsync(message, cancellationToken);
        }
        catch (Exception ex)
        {
            return ValueTask.FromException<int>(ex);
        }
    }

    /// <summary>
    /// Sends one message to exactly one connection, the next in turn with room (load balancing, as a
    /// ZeroMQ PUSH socket does); completes with false when nobody took it (no connection: held or
    /// dropped like a broadcast to nobody; every one full: the overflow policy applied).
    /// </summary>
    /// <exception cref="Framing.FramingException">The task fails with it: the framing cannot encode the payload.</exception>
    /// <exception cref="OperationCanceledException">The task ends with it: <paramref name="cancellationToken"/> was cancelled before the
    /// call (nothing is sent, nothing counted) or while the message waited for room.</exception>
    public ValueTask<bool> SendToAnyAsync(ReadOnlyMemory<byte> payload, Framing.FrameFields fields = default, CancellationToken cancellationToken = default)
        => Queued(Send(EgressMessage.ToAny(payload, fields), cancellationToken));

    /// <summary>Closes a connection (the kill switch); its disconnected event carries reason <c>killed</c>, <paramref name="reason"/> as detail and <paramref name="code"/>.
    /// Returns false when the connection is unknown; the close itself happens on the service thread shortly after. What was
    /// queued for the connection before is written first, as far as its socket takes it at once, then a FIN; the rest is
    /// dropped and counted. A message sent to it after this call finds no connection (<see cref="SendOutcome.NoConnection"/>).</summary>
    public bool Close(ConnectionId connection, string? reason = null, string? code = null)
        => _core.RequestClose(connection, DisconnectReason.Killed, reason, code);

    /// <summary>Adds a connection to a group (created on first join); false when the connection is unknown. A refused join
    /// (either exception below) changes nothing: no membership, no notice; it is counted in <see cref="SocketStats.GroupJoinsRefusedTotal"/>.</summary>
    /// <exception cref="ArgumentNullException"><paramref name="group"/> is null.</exception>
    /// <exception cref="ArgumentException"><paramref name="group"/> is empty or white space, or longer than
    /// <see cref="TcpServerStageOptions.MaxGroupNameLength"/> (the message names the connection, the name, its length and the limit).</exception>
    /// <exception cref="InvalidOperationException">The connection is in <see cref="TcpServerStageOptions.MaxGroupsPerConnection"/>
    /// groups already (a group it is in already is no new join: true).</exception>
    public bool JoinGroup(ConnectionId connection, string group) => _core.Groups.Join(connection, group);

    /// <summary>Removes a connection from a group (an empty group disappears); false when it was not a member.</summary>
    /// <exception cref="ArgumentNullException"><paramref name="group"/> is null.</exception>
    /// <exception cref="ArgumentException"><paramref name="group"/> is empty or white space.</exception>
    public bool LeaveGroup(ConnectionId connection, string group) => _core.Groups.Leave(connection, group);

    /// <summary>The members of <paramref name="group"/> now; empty when the group does not exist.</summary>
    /// <exception cref="ArgumentNullException"><paramref name="group"/> is null.</exception>
    /// <exception cref="ArgumentException"><paramref name="group"/> is empty or white space (a name no group can have).</exception>
    public IReadOnlyList<ConnectionId> GetGroupMembers(string group) => _core.Groups.MemberIds(group);

    /// <summary>The groups <paramref name="connection"/> belongs to now; empty when it is unknown.</summary>
    public IReadOnlyList<string> GetGroupsOf(ConnectionId connection) => _core.Groups.GroupsOf(connection);

    /// <summary>The groups that have members now.</summary>
    public IReadOnlyList<string> GetGroups() => _core.Groups.Names();

    /// <summary>The connection registry: id, peer, times, traffic, egress queued and dropped, groups.</summary>
    public IReadOnlyList<ConnectionInfo> GetConnections() => _core.GetConnections();

    internal StageEngine Core => _core;

    /// <summary>Fault injection for tests.</summary>
    internal void BreakListenerForTest() => _acceptor.BreakListenerForTest();

    /// <summary>How many connections have met a full limit and waited for their verdict, for tests.</summary>
    internal int LimitParksForTest => _acceptor.ParksForTest;

    bool IAnyEgressStage.TrySendToAnyNow(ReadOnlySpan<byte> payload, in Framing.FrameFields fields) => _core.Any.TryEnqueue(payload, fields, out _) == AnyOutcome.Queued;

    ValueTask<(AnyOutcome Outcome, Connection? Owed)> IAnyEgressStage.SendToAnyAsync(ReadOnlyMemory<byte> payload, Framing.FrameFields fields, TimeSpan timeout,
        CancellationToken cancellationToken) => _core.Any.SendAsync(payload, fields, timeout, cancellationToken);

    void IAnyEgressStage.CountGivenUp(Connection owed, int payloadLength) => _core.Any.CountGivenUp(owed, payloadLength);

    Task IAnyEgressStage.WhenRoomForAny(int payloadLength) => _core.Any.WhenRoom(payloadLength);

    bool IAnyEgressStage.BeginSendBatch() => _core.Writer.BeginCallerBatch();

    void IAnyEgressStage.EndSendBatch() => _core.Writer.EndCallerBatch();

    long IAnyEgressStage.QueuedEgressBytes => _core.QueuedEgressBytes();

    /// <summary>
    /// Stops gracefully: stops accepting, lets queued egress drain for up to the grace period, then
    /// closes every connection. Connection handlers (<see cref="MapConnections"/>) have their tokens cancelled
    /// and are waited for within the grace period too; one still running when it ends is reported (an
    /// <see cref="Error"/> event) and abandoned, and no event follows <see cref="Closed"/>. Cancelling the
    /// token cuts the grace period short. Completes when the service thread has ended; safe to call more
    /// than once and before <see cref="Start"/>. A pending
    /// <see cref="WaitListeningAsync"/> is cancelled. The stage does not start again: a later
    /// <see cref="Start"/> throws <see cref="InvalidOperationException"/>, also after a stop before any start.
    /// </summary>
    public Task StopAsync(CancellationToken cancellationToken = default) => Stop(dispose: false, cancellationToken);

    private Task Stop(bool dispose, CancellationToken cancellationToken)
    {
        // Never started: no service loop will end and cancel the waiters, so they are cancelled here.
        if (_life.Stop(dispose))
            _acceptor.Stopped();
        return _core.StopAsync(cancellationToken);
    }

    /// <summary>Stops the stage (<see cref="StopAsync"/> with the full grace period); afterwards <see cref="Start"/>
    /// and <see cref="StartAsync"/> throw <see cref="ObjectDisposedException"/>.</summary>
    public async ValueTask DisposeAsync()
    {
        await Stop(dispose: true, CancellationToken.None).ConfigureAwait(false);
        _core.Dispose();
    }
}
