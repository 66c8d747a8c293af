using System.Net;
using Ferry.Bus;
using Ferry.Connections;
using Ferry.Framing;
using Ferry.Transport;
using Microsoft.Extensions.Logging;

namespace Ferry.Stages.Internal;

/// <summary>
/// One stage, composed: the service loop and its readiness, the connection table, the frame reader,
/// the packet grouper, the connection writer, the egress router, the group registry, the timeout
/// scanner, the counters and the event sink, plus the connection source (accepting or dialling).
/// It owns the connection lifecycle (open, establish, close), which touches every part, and runs
/// each loop round. The public stage types are thin facades over it.
/// </summary>
/// <remarks>
/// Threads: everything per message runs on the one service thread. Other threads enqueue egress
/// (under a connection's egress lock), join and leave groups, and post close requests.
/// Lock order: group notices → connection table → group registry → a connection's egress lock.
/// </remarks>
internal sealed class StageEngine : ILoopRound, IConnectionLifecycle, IDisposable
{
    private readonly ITransport _transport;
    private readonly IReadiness _readiness;
    private readonly ServiceLoop _loop;
    private readonly ConnectionTable _table = new();
    private readonly StageCounters _counters = new();
    private readonly FrameReader _reader;
    private readonly PacketGrouper _grouper;
    private readonly ConnectionWriter _writer;
    private readonly CrossStageHolds _crossHolds;
    private readonly HeldEgress _held;
    private readonly AnyRoute _any;
    private readonly EgressRouter _router;
    private readonly GroupRegistry _groups;
    private readonly TimeoutScanner _timeouts;
    private readonly StatsPublisher _stats;
    private readonly IConnectionSource _source;
    private readonly System.Collections.Concurrent.ConcurrentQueue<(Connection Connection, CloseRequest Request)> _closeRequests = new();
    /// <summary>Work other threads hand to the service thread (<see cref="Post"/>).</summary>
    private readonly System.Collections.Concurrent.ConcurrentQueue<Action> _posted = new();
    private readonly IDisposable _egressSubscription;
    private readonly IDisposable _controlSubscription;
    private readonly StageNameClaim _name;
    private ConnectionHandlers? _handlers;
    private readonly TimeSpan _gracePeriod;
    private long _nextLogFlushMs;

    public StageEngine(object owner, CoreSettings settings, IMessageBus bus, ILogger logger, TimeProvider time, Func<StageEngine, IConnectionSource> source)
    {
        Clock = new StageClock(time);
        Name = settings.Name;
        _gracePeriod = settings.StopGracePeriod;
        _transport = settings.CreateTransport(time, logger);
        _readiness = _transport.Readiness;
        _loop = new ServiceLoop(settings.Name, _readiness, Clock, settings.ThreadPriority, settings.ThreadProcessorAffinity, settings.StopGracePeriod, logger);
        Events = new EventSink(owner, settings.Name, logger, bus, Clock, _loop.StopForced);
        _grouper = new PacketGrouper(settings.Name, settings.GroupSize, settings.GroupLinger, bus, _counters, Events, _loop.StopForced);
        _writer = new ConnectionWriter(settings, _counters, _loop, _readiness, this, Clock, _grouper, _table);
        _crossHolds = new CrossStageHolds(_writer, Clock, _loop);
        _loop.CrossStageHolds = _crossHolds;
        _reader = new FrameReader(settings, _grouper, _writer, this, _counters, Events);
        _held = new HeldEgress(settings.QueueWhenDisconnected, settings.HoldWhenDisconnectedBytes, _counters);
        _groups = new GroupRegistry(_table, Events, settings.GroupNotices, () => _loop.OnServiceThread,
            _counters, settings.MaxGroupsPerConnection, settings.MaxGroupNameLength);
        _any = new AnyRoute(_table, _writer, _held, _loop, Clock, settings.EgressWaitTimeout);
        _router = new EgressRouter(_table, _groups, _writer, _held, _any, _counters, Events);
        _timeouts = new TimeoutScanner(settings.IdleTimeout, settings.FrameTimeout, (settings.Framing as ISessionFraming)?.HandshakeTimeout,
            settings.Tls is { Secure: true } tls ? tls.HandshakeTimeout : null, settings.ProxyHeaderTimeout, settings.HalfCloseLinger, _table, this, Clock);
        _stats = new StatsPublisher(_counters, _table, Events, bus, settings.StatsInterval, _loop.StopForced, _transport.Linger);
        // The name first: a second stage of this name on this bus must not subscribe to the first one's topics.
        _name = StageNameClaim.Take(bus, settings.Name);
        _egressSubscription = DirectTopic.Of<EgressMessage>(bus, StageTopics.EgressPackets(settings.Name)).Subscribe(_router.HandleEgressAsync);
        _controlSubscription = DirectTopic.Of<ControlCommand>(bus, StageTopics.Control(settings.Name)).Subscribe(new ControlChannel(this).HandleAsync);
        try
        {
            _source = source(this);
        }
        catch
        {
            // The stage will not exist: its topics and its name are free for the next attempt.
            LeaveBus();
            throw;
        }
    }

    public string Name { get; }

    public StageClock Clock { get; }

    public EventSink Events { get; }

    public IReadiness Readiness => _readiness;

    /// <summary>How the stage listens, dials and moves bytes (epoll or streams).</summary>
    public ITransport Transport => _transport;

    public ServiceLoop Loop => _loop;

    public EgressRouter Router => _router;

    public AnyRoute Any => _any;

    /// <summary>Each connection's way out (the frame bridge batches its sends through it).</summary>
    public ConnectionWriter Writer => _writer;

    public GroupRegistry Groups => _groups;

    public ConnectionTable Table => _table;

    public StageCounters Counters => _counters;

    public int ConnectionCount => _table.Count;

    /// <summary>Whether a session framing establishes connections (after its own handshake).</summary>
    public bool HasSessions => _reader.HasSessions;

    /// <summary>Puts the PROXY protocol in front of the framing (server stages that ask for it).</summary>
    public void UseProxyHeaders(ProxyHeaderGate gate) => _reader.ProxyHeaders = gate;

    public Task Stopped => _loop.Stopped;

    public void Start() => _loop.Start(this);

    /// <summary>Serves every connection established from now on with its own handler (before start).</summary>
    public void MapConnections(ConnectionHandler handler, ConnectionHandlerOptions options)
    {
        ArgumentNullException.ThrowIfNull(handler);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        if (_handlers is not null)
            throw new InvalidOperationException($"stage '{Name}' already has a connection handler; map one handler and dispatch inside it");
        if (_loop.Started)
            throw new InvalidOperationException($"stage '{Name}' has started; map connection handlers before starting it");
        _handlers = new ConnectionHandlers(handler, options, this, _writer);
    }

    /// <summary>Connection handlers running now (0 without <see cref="MapConnections"/>).</summary>
    public int RunningHandlers => _handlers?.Running ?? 0;

    public Task StopAsync(CancellationToken cancellationToken) => _loop.StopAsync(cancellationToken);

    public SocketStats Snapshot() => _stats.Snapshot(_loop.OnServiceThread);

    public SocketStats? LastStats => _stats.Last;

    // ---- the connection lifecycle ----

    /// <summary>Takes ownership of a connected socket and starts reading it; null when it cannot be watched (it is closed).</summary>
    public Connection? AddConnection(IConnectionIo io, IPEndPoint peer, IPEndPoint local, ProxyHeaderState proxyHeader = ProxyHeaderState.None)
    {
        var (slot, generation) = _table.Reserve();
        var c = new Connection(io, slot, generation, ConnectionId.Next(), peer, local, Clock.NowMs, Clock.NowUtcTicks);
        var rc = _readiness.Watch(io, ReadyFlags.Readable, c.Token);
        if (rc != 0)
        {
            _table.Unreserve(slot);
            io.Dispose();
            Events.RaiseError(StageErrorKind.Accept, $"could not watch connection from {peer}: {io.DescribeError(rc)}");
            return null;
        }
        c.ProxyHeader = proxyHeader;
        _table.Add(c);
        _counters.Accepted++;
        _reader.Attach(c);
        // A session framing announces the connection once its handshake is done; TLS once its own is.
        c.HandshakePending = io.HasHandshake;
        // A trusted proxy's connection is announced once its PROXY header has named the client.
        if (!_reader.HasSessions && !c.HandshakePending && proxyHeader != ProxyHeaderState.Expected)
            Establish(c);
        return c;
    }

    /// <summary>No connection will come (a client stage gave up reconnecting): held egress is dropped and counted, and nothing is held from now on.</summary>
    public void ReleaseHeld()
    {
        lock (_table.Sync)
            _held.ReleaseLocked();
    }

    public void Establish(Connection c)
    {
        // Under the table lock, so a router that found no established connection and held its message
        // cannot miss this one.
        lock (_table.Sync)
        {
            _table.EstablishLocked(c);
            _held.DeliverLocked(c, _writer, keepGiven: c.Tls is not null && _source is Dialer);
        }
        Log.Connected(Events.Logger, Name, c.Id, c.Peer);
        Events.RaiseConnected(new ConnectedEvent(Name, Clock.UtcNow, c.Id, c.Peer, c.Local, c.Tls, c.Via));
        _handlers?.OnEstablished(c);
        // After the handlers: whoever waited for the connection resumes with what they recorded there (a wait asked from
        // the moment the connection is in the table, a Connected handler's included, answers at once from the table).
        _source.OnEstablished(c);
    }

    public void Close(Connection c, DisconnectReason reason, string? detail = null, string? code = null) => Close(c, reason, detail, code, flush: false);

    /// <summary>
    /// Closes a connection that admission refused once its PROXY header named the client. It counts as
    /// closed and also as rejected, like a refusal at accept, so that accepted - closed = open and every
    /// disconnected event is one closed connection, for both.
    /// </summary>
    public void CloseRejected(Connection c, DisconnectReason reason, string detail) => Close(c, reason, detail, null, flush: false, rejected: true);

    private void Close(Connection c, DisconnectReason reason, string? detail, string? code, bool flush, bool rejected = false)
    {
        if (!_table.IsLive(c))
            return;
        // The close is decided: from here the connection takes no new message (the kill switch's request marked it
        // already). A sender that got room just before (a flush in this round woke it) and enqueues while the close
        // runs would otherwise be told Queued for a message the close then drops.
        c.Closing = true;
        if (flush)
        {
            // What a handler sent before it returned or closed goes out first, followed by a FIN.
            _writer.Flush(c);
            if (!_table.IsLive(c))
                return;
            // The handler's own end (only it asks for these reasons with a flush) on a connection whose peer had
            // finished sending, but its answer is not all written yet (the flush closes it when it was): it is
            // written first, as for any half-closed client, and the flush that writes its last byte closes the
            // connection (remote_closed); a stop's grace period bounds that as it bounds any drain.
            if (c.PeerFinished && c.Inbox is { HasHandlerEnded: true } && reason is DisconnectReason.HandlerEnded or DisconnectReason.ServerStopping or DisconnectReason.ClientStopping)
                return;
            c.CloseGracefully = true;
        }
        _source.OnLeaving(c);
        _readiness.Unwatch(c.Io);
        _table.Detach(c);
        if ((reason is DisconnectReason.Reset or DisconnectReason.ProtocolError or DisconnectReason.SlowConsumer
                or DisconnectReason.ProxyProtocol or DisconnectReason.Denied or DisconnectReason.IpLimit) && !c.CloseGracefully)
            c.Io.SetAbortiveClose();
        // A client's TLS connection that the server ended before it said anything may have been refused in a handshake that
        // had finished only on this side (TLS 1.3 mutual TLS: the server checks the client's certificate after the client's
        // Finished): it is reported, counted and retried as the failed handshake it was, as under TLS 1.2. Decided after the
        // abortive close above, which follows the close as the transport saw it.
        var duringHandshake = c.HandshakePending;
        // Refused with an alert, the server read nothing this side wrote: the messages held for it go back to be held.
        var alerted = false;
        if (_source.RefusedAfterHandshake(c, reason, detail) is { } refusal)
        {
            alerted = reason == DisconnectReason.TlsError;
            reason = DisconnectReason.TlsError;
            detail = refusal;
            duringHandshake = true;
        }
        _writer.Retire(c);
        lock (_table.Sync)
        {
            _table.RemoveLocked(c);
            _counters.BytesOutOfClosed += c.BytesOut;
            if (alerted)
                _held.ReturnLocked(c);
            else
                _held.ForgetGivenLocked(c);
        }
        // The groups it was in travel with the disconnected event: by then they no longer hold it.
        var groups = _groups.LeaveAll(c);
        // Every connection taken is closed once, whatever the reason; rejected counts those of them admission refused.
        // Counted before its connection handler learns of the end, so a handler that reads the stats then finds it closed.
        _counters.Closed++;
        if (rejected)
            _counters.Rejected++;
        // Handshakes only: a TLS error on an established session (a record that does not decrypt) is a close reason, not a failed handshake.
        if (reason is DisconnectReason.TlsHandshakeTimeout || (reason is DisconnectReason.TlsError && duringHandshake))
            _counters.TlsFailures++;
        else if (reason is DisconnectReason.ProxyProtocol or DisconnectReason.ProxyHeaderTimeout)
            _counters.ProxyFailures++;
        _handlers?.OnClosed(c);
        _reader.ReleasePending(c);
        Log.Disconnected(Events.Logger, Name, c.Id, c.Peer, reason.ToName(), detail);
        // A refused client certificate is what an operator must see at the default level, with the certificate it was.
        if (reason is DisconnectReason.TlsError && c.HandshakePending && c.Io is Ferry.Transport.Tls.IClientCertificateRefusal { RefusedClientCertificate: { } refused }
            && Events.MayWarn(WarningKind.ClientCertificateRefused))
            Log.ClientCertificateRefused(Events.Logger, Name, c.Id, c.Peer, detail ?? "refused", refused.Subject ?? "none (no certificate seen)", refused.Thumbprint ?? "none");
        // What it sent before it ended is published before its end is told (see PacketGrouper.PublishOpenOf).
        _grouper.PublishOpenOf(c.Id);
        Events.RaiseDisconnected(new DisconnectedEvent(Name, Clock.UtcNow, c.Id, c.Peer, reason, detail, code) { Groups = groups, DuringHandshake = duringHandshake });
        _source.OnClosed(c, reason, detail);
    }

    /// <summary>The transport's handshake (TLS) finished: messages may flow, unless a session framing still has its own to do.</summary>
    private void Secured(Connection c, TlsConnectionInfo? tls)
    {
        c.HandshakePending = false;
        c.Tls = tls;
        if (!_reader.HasSessions)
            Establish(c);
    }

    public void RequestClose(Connection c, CloseRequest request)
    {
        // Before the request is queued: a message sent after the close was asked for is refused, never queued behind it.
        c.Closing = true;
        _closeRequests.Enqueue((c, request));
        if (!_loop.OnServiceThread)
            _loop.Wake();
    }

    /// <summary>
    /// The kill switch (<c>Close</c>, the control channel, a client stage's <c>Reconnect</c>): asks the service
    /// thread to close a connection by id; false when it is unknown. What was queued for it before is written
    /// first, as far as the socket takes it at once (then a FIN): a codec that answers and then kills, both
    /// in one loop round, must not lose its answer to the kill. What the socket does not take is dropped and
    /// counted, so a kill never waits for a slow client.
    /// </summary>
    public bool RequestClose(ConnectionId id, DisconnectReason reason, string? detail = null, string? code = null)
    {
        if (!_table.TryGet(id, out var c))
            return false;
        RequestClose(c, new CloseRequest(reason, detail, code) { Flush = true });
        return true;
    }

    /// <summary>
    /// Counts and reports a connection refused before it was taken; the caller has closed it. It was accepted
    /// and closed at once (and is one disconnected event), so it counts in both, and in rejected.
    /// </summary>
    public void ReportRejected(IPEndPoint peer, DisconnectReason reason, string detail)
    {
        _counters.Accepted++;
        _counters.Closed++;
        _counters.Rejected++;
        var id = ConnectionId.Next();
        if (Events.MayWarn(WarningKind.Rejected))
            Log.Rejected(Events.Logger, Name, id, peer, detail);
        Events.RaiseDisconnected(new DisconnectedEvent(Name, Clock.UtcNow, id, peer, reason, detail));
    }

    // ---- the loop round ----

    void ILoopRound.OnStarted()
    {
        foreach (var problem in _loop.SetupProblems)
            Events.RaiseError(StageErrorKind.Setup, problem);
        _stats.Start();
        _timeouts.Start();
        _source.Start();
    }

    void ILoopRound.OnEvent(long token, ReadyFlags flags)
    {
        if (token < 0)
        {
            _source.OnEvent(token, flags);
            return;
        }
        var c = _table.FromToken(token);
        if (c is null)
            return; // closed earlier in this round
        if (c.HandshakePending && c.Io.TryCompleteHandshake(out var tls))
            Secured(c, tls);
        if ((flags & (ReadyFlags.Readable | ReadyFlags.Closed)) != 0)
            _reader.OnReadable(c);
        if ((flags & ReadyFlags.Writable) != 0 && _table.IsLive(c))
            _writer.Flush(c);
    }

    void ILoopRound.AfterEvents()
    {
        // Inline handlers first: what they send, close or resume is then taken in this same round.
        _handlers?.RunInline();
        _writer.TakePosted();
        _crossHolds.TakeRoomNotices();
        while (_closeRequests.TryDequeue(out var request))
            Close(request.Connection, request.Request.Reason, request.Request.Detail, request.Request.Code, request.Request.Flush);
        while (_posted.TryDequeue(out var work))
            work();
        _handlers?.TakeResumes();
        _writer.FlushDirty();
        _grouper.OnTimer();
        _writer.OnTimer();
        _crossHolds.OnTimer();
        _timeouts.OnTimer();
        _stats.OnTimer();
        _source.OnTimer();
        if (Clock.NowMs >= _nextLogFlushMs)
        {
            _nextLogFlushMs = Clock.NowMs + 1000;
            Events.Limiter.Flush();
            _reader.ReclaimMemoryIfDue();
        }
    }

    bool ILoopRound.HasPostedWork => _writer.HasPosted || _crossHolds.HasPosted || !_closeRequests.IsEmpty || !_posted.IsEmpty || (_handlers?.HasPosted ?? false);

    /// <summary>
    /// Runs <paramref name="work"/> on the service thread in its next round, after the close requests: for a component
    /// outside the stage (a route of <c>ferry run</c>) that must touch what only that thread owns (read interest, the
    /// listener) without blocking it. Any thread; dropped unrun once the loop has ended.
    /// </summary>
    public void Post(Action work)
    {
        _posted.Enqueue(work);
        _loop.Wake();
    }

    /// <summary>Stops accepting new connections now, as a stop begins, while the ones open go on. Service thread.</summary>
    public void StopAccepting() => _source.StopAccepting();

    long ILoopRound.NextDueMs()
    {
        var next = Math.Min(Math.Min(_stats.NextDueMs, _timeouts.NextDueMs), Math.Min(_source.NextDueMs, Math.Min(_writer.NextDueMs(), _crossHolds.NextDueMs())));
        var linger = _grouper.LingerLeftMs();
        return linger == long.MaxValue ? next : Math.Min(next, Clock.NowMsFresh + Math.Max(linger, 0));
    }

    void ILoopRound.OnStopRequested()
    {
        _source.StopAccepting();
        _handlers?.OnStopping();
        _grouper.PublishOpen();
    }

    /// <summary>
    /// Whether the stop may end before its grace period: queued egress is written, every connection handler
    /// has ended (their tokens were cancelled when the stop began) and the closes they asked for are taken, so
    /// that <c>StopAsync</c> does not return, nor <c>Closed</c> come, while a handler still runs.
    /// </summary>
    bool ILoopRound.EgressDrained() => !ConnectionWriter.AnyQueued(_table.ListLocked) && RunningHandlers == 0 && _closeRequests.IsEmpty;

    /// <summary>The reason the stage's own stop closes its connections with: a client stage's must not read as the server's.</summary>
    internal DisconnectReason StoppingReason => _source is Dialer ? DisconnectReason.ClientStopping : DisconnectReason.ServerStopping;

    void ILoopRound.OnEnded(Exception? failure)
    {
        if (failure is not null)
            Events.RaiseError(StageErrorKind.Handler, "service loop failed: " + failure.Message);
        // Every connection is closed now: all are marked first, so that a message sent meanwhile (from the disconnected
        // event of the first) to one closed later is refused, not queued to be dropped by its close a moment later.
        foreach (var c in _table.ListLocked)
            c.Closing = true;
        var (bytesBefore, packetsBefore) = (Interlocked.Read(ref _counters.EgressBytesDropped), Interlocked.Read(ref _counters.EgressPacketsDropped));
        while (_table.Count > 0)
            Close(_table.ListLocked[^1], StoppingReason);
        _source.Stopped();
        LeaveBus();
        StopDropped = (Interlocked.Read(ref _counters.EgressBytesDropped) - bytesBefore, Interlocked.Read(ref _counters.EgressPacketsDropped) - packetsBefore);
        // Handlers still running now outlived the grace period: reported once, before Closed, and abandoned.
        _handlers?.Abandon(_gracePeriod);
        Events.RaiseClosed(new ClosedEvent(Name, Clock.Time.GetUtcNow()));
    }

    /// <summary>
    /// The egress the end of the stop dropped: what the connections it closed still held, and messages held for them,
    /// (bytes, whole messages among them). Not what was dropped during the grace period for other reasons (a full
    /// buffer's overflow policy), which the totals count as any other drop. Set when the loop has ended.
    /// </summary>
    public (long Bytes, long Packets) StopDropped { get; private set; }

    /// <summary>Packets read from clients that a forced stop never handed to the <c>packet_group</c> subscribers (read when the loop has ended).</summary>
    public long IngressStopDropped => Volatile.Read(ref _counters.IngressPacketsStopDropped);

    // ---- the registry ----

    /// <summary>The connection registry as of now.</summary>
    public IReadOnlyList<ConnectionInfo> GetConnections()
    {
        var connections = _table.Snapshot();
        var rows = new ConnectionInfo[connections.Length];
        for (var i = 0; i < connections.Length; i++)
        {
            var c = connections[i];
            int queued;
            long bytesOut, packetsOut, droppedBytes, droppedPackets;
            lock (c.EgressLock)
            {
                queued = c.Egress.Length;
                bytesOut = c.BytesOut;
                packetsOut = c.PacketsOut;
                droppedBytes = c.EgressBytesDropped;
                droppedPackets = c.EgressPacketsDropped;
            }
            rows[i] = new ConnectionInfo(c.Id, c.Peer, new DateTimeOffset(c.ConnectedAtUtcTicks, TimeSpan.Zero),
                new DateTimeOffset(Volatile.Read(ref c.LastActivityUtcTicks), TimeSpan.Zero), Volatile.Read(ref c.BytesIn),
                Volatile.Read(ref c.PacketsIn), bytesOut, packetsOut, queued, droppedBytes, droppedPackets, _groups.GroupsOf(c), c.Via);
        }
        return rows;
    }

    /// <summary>Bytes of egress queued on every connection and not yet taken by the kernel.</summary>
    public long QueuedEgressBytes()
    {
        long total = 0;
        foreach (var c in _table.Snapshot())
            lock (c.EgressLock)
                total += c.Egress.Length;
        return total;
    }

    /// <summary>
    /// Ends the stage's subscriptions to its egress and control topics and gives its name back. When the loop ends, or
    /// at disposal for a stage that never started (no loop ran to end them). Idempotent.
    /// </summary>
    private void LeaveBus()
    {
        _egressSubscription.Dispose();
        _controlSubscription.Dispose();
        _name.Dispose();
    }

    public void Dispose()
    {
        // The loop disposes the readiness when it ends; the stop token source is deliberately not disposed, so a
        // caller's late cancellation can never touch a disposed one. A stage that never started still holds its topics.
        LeaveBus();
    }
}
