using System.Net;
using System.Net.Sockets;
using Ferry.Connections;
using Ferry.Transport;

namespace Ferry.Stages.Internal;

/// <summary>
/// The server stage's connection source: binds with retry and capped back-off, accepts, enforces the
/// connection limit, pauses when descriptors run out, and rebuilds a listener that failed. The
/// mechanism (epoll's accept4, the stream transport's accept loop) is the transport's <see cref="IListener"/>.
/// </summary>
internal sealed class Acceptor : IConnectionSource
{
    private const long ListenerToken = -2;
    private const int AcceptsPerRound = 64;
    private const long AcceptPauseMs = 100;

    private readonly StageEngine _engine;
    private readonly TcpServerStageOptions _options;
    private readonly BindAddress _bind;
    private readonly TaskCompletionSource<IPEndPoint> _listening = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private IListener? _listener;
    /// <summary>The first address the stage listened on, set before the Listening event is raised.</summary>
    private volatile IPEndPoint? _listenedOn;
    private int _boundPort;
    private long _nextBindMs;
    private TimeSpan _bindDelay;
    private int _bindFailures;
    private long _acceptResumeMs = long.MaxValue;
    /// <summary>Accepting was stopped for good (<see cref="StopAccepting"/>): the closed listener is not bound again.</summary>
    private bool _acceptingStopped;
    private readonly AdmissionControl _admission;
    private readonly ProxyHeaderGate? _proxy;
    /// <summary>A connection that met a full limit, waiting for the verdict (see <see cref="Park"/>).</summary>
    private AcceptedConnection? _parked;
    /// <summary>Whether a round has ended since <see cref="_parked"/> was set: the next round's wait then sees the hang-ups.</summary>
    private bool _parkedRoundEnded;
    /// <summary>Until when (stage clock, ms) the parked connection waits for a place: the transport's <see cref="ITransport.LimitWait"/>.</summary>
    private long _parkedUntilMs;
    /// <summary>
    /// A wait for a place ended in a refusal and nobody has left since: the limit is full for real, and a newcomer that meets
    /// it is refused at once instead of waiting again (a crowd is shed at the accept rate). Only where the wait is timed.
    /// </summary>
    private bool _limitHeld;

    public Acceptor(StageEngine engine, TcpServerStageOptions options)
    {
        _engine = engine;
        _options = options;
        _bind = BindAddress.Parse(options.Bind);
        _boundPort = _bind.Port;
        _bindDelay = options.BindRetryDelay;
        _admission = new AdmissionControl(options, engine.Events);
        if (options.ProxyProtocol != ProxyProtocol.Off)
        {
            _proxy = new ProxyHeaderGate(options.ProxyProtocol, new ProxyTrust(options.TrustedProxies ?? []), _admission, engine);
            engine.UseProxyHeaders(_proxy);
        }
    }

    /// <summary>
    /// Completes with the first bound address. Asked from the moment the stage listens, the Listening event included, it is
    /// complete; a wait begun before resumes only after the event's handlers have run (what they record is there then).
    /// </summary>
    public Task<IPEndPoint> ListeningTask => _listenedOn is { } bound && !_listening.Task.IsCompleted ? Task.FromResult(bound) : _listening.Task;

    public IPEndPoint? LocalEndPoint => _listener?.LocalEndPoint;

    private long NowMs => _engine.Clock.NowMs;

    public void Start() => TryBind();

    public long NextDueMs => _parked is { } parked
        ? (!_parkedRoundEnded || !AtLimit(parked) ? NowMs : _parkedUntilMs)
        : Math.Min(_listener is null && !_engine.Loop.IsStopping && !_acceptingStopped ? _nextBindMs : long.MaxValue, _acceptResumeMs);

    public void OnTimer()
    {
        if (_parked is not null)
            DecideParked();
        if (_listener is null && !_engine.Loop.IsStopping && !_acceptingStopped && NowMs >= _nextBindMs)
            TryBind();
        if (_listener is not null && NowMs >= _acceptResumeMs)
        {
            _acceptResumeMs = long.MaxValue;
            _listener.Resume();
        }
    }

    private void TryBind()
    {
        // After a rebuild, a port the kernel picked (port 0) is asked for again so clients can come back.
        var address = _bind with { Port = _boundPort };
        try
        {
            var listener = _engine.Transport.Listen(address, _options.Backlog, _options.Socket, ListenerToken);
            _listener = listener;
            _boundPort = listener.LocalEndPoint.Port;
            _bindDelay = _options.BindRetryDelay;
            _bindFailures = 0;
            // Listening from now on, for whoever asks (a Listening handler included: ListeningTask answers at once)...
            _listenedOn ??= listener.LocalEndPoint;
            Log.Listening(_engine.Events.Logger, _engine.Name, listener.LocalEndPoint);
            _engine.Events.RaiseListening(new ListeningEvent(_engine.Name, _engine.Clock.UtcNow, listener.LocalEndPoint));
            // ...while those who waited from before resume after the event's handlers have run, as they always did.
            _listening.TrySetResult(_listenedOn);
        }
        catch (Exception ex) when (ex is SocketException or IOException)
        {
            BindFailed(address, ex);
        }
    }

    private void BindFailed(BindAddress address, Exception ex)
    {
        var reason = ex switch
        {
            SocketException { SocketErrorCode: SocketError.HostNotFound or SocketError.TryAgain or SocketError.NoData } se
                => $"the name '{address.Host}' does not resolve ({se.SocketErrorCode})",
            SocketException se => $"{se.SocketErrorCode}: {se.Message}",
            _ => ex.Message,
        };
        if (_options.BindAttempts > 0 && ++_bindFailures >= _options.BindAttempts && !_listening.Task.IsCompleted)
        {
            var message = $"cannot listen on {address}: {reason} (gave up after {_bindFailures} bind attempt{(_bindFailures == 1 ? "" : "s")})";
            _engine.Events.RaiseBindGaveUp(message);
            _listening.TrySetException(new IOException($"stage '{_engine.Name}' {message}", ex));
            _ = _engine.StopAsync(CancellationToken.None);
            return;
        }
        _engine.Events.RaiseError(StageErrorKind.Bind, $"cannot listen on {address}: {reason}; retrying in {_bindDelay.TotalMilliseconds:0} ms");
        _nextBindMs = NowMs + (long)_bindDelay.TotalMilliseconds;
        _bindDelay = TimeSpan.FromTicks(Math.Min(_bindDelay.Ticks * 2, _options.BindRetryMaxDelay.Ticks));
    }

    public void OnEvent(long token, ReadyFlags flags)
    {
        if (token == ListenerToken && _listener is not null)
            Accept(_listener);
    }

    private void Accept(IListener listener, bool limitsAreFresh = false)
    {
        // While one connection waits for its verdict, the others wait in the backlog: it is decided first.
        if (_parked is not null)
            return;
        for (var i = 0; i < AcceptsPerRound; i++)
        {
            var status = listener.TryAccept(out var accepted, out var error);
            switch (status)
            {
                case AcceptStatus.Accepted:
                    if (!limitsAreFresh && !_limitHeld && AtLimit(accepted))
                    {
                        Park(listener, accepted);
                        return;
                    }
                    Take(accepted);
                    continue;
                case AcceptStatus.Transient:
                    continue; // that one client is gone; the listener is fine
                case AcceptStatus.OutOfResources:
                    // Out of descriptors or memory: pause accepting instead of spinning on a listener
                    // that stays ready.
                    PauseAccepting(listener, $"accept failed: {error}; pausing accepts for {AcceptPauseMs} ms");
                    return;
                case AcceptStatus.AtReserve:
                    // Shed with a reset, and go on with the next one: the shed descriptor is free again at
                    // once, so the reserve only ever lends one, and every client queued in the backlog
                    // learns of its refusal now instead of one per pause (at 10 a second a full backlog
                    // of 512 kept the last one waiting 51 s). The bound per round keeps the other
                    // connections served meanwhile. Once descriptors free up, the next accept gets a low
                    // number and is taken: nothing needs to resume.
                    accepted.Io.SetAbortiveClose();
                    accepted.Io.Dispose();
                    _engine.ReportRejected(accepted.Peer, DisconnectReason.Limit, error);
                    _engine.Events.RaiseWarning(WarningKind.Accept, StageErrorKind.Accept,
                        "file descriptors are running out (a reserve is kept below the process limit): new connections are refused until some close");
                    // The stream transport's accept loop waits after handing over a socket in the reserve
                    // (it accepts on another thread, so it could not keep to one otherwise): that one is closed now.
                    listener.Resume();
                    continue;
                case AcceptStatus.Broken:
                    RebuildListener($"accept failed: {error}");
                    return;
                default:
                    return;
            }
        }
    }

    /// <summary>
    /// Whether the connection limit, or its address's, is reached. Counted from the table, which still holds a client
    /// that has hung up if its hang-up is in this round's events and not yet read: a client that connects and resets over
    /// and over would otherwise fill the count with the departed and get the others refused (see <see cref="Park"/>).
    /// </summary>
    private bool AtLimit(in AcceptedConnection accepted)
        => (_options.MaxConnections > 0 && _engine.ConnectionCount >= _options.MaxConnections)
           || (_admission.AtAddressLimit(accepted.Peer) && _proxy?.StateFor(accepted.Peer) != ProxyHeaderState.Expected);

    /// <summary>
    /// Holds a connection that met a full limit instead of refusing it at once, and the listener with it (the others wait in
    /// the backlog). On epoll for one round: the next wait on readiness reports the hang-ups of the connections taken so far,
    /// their closes free their places, and only then is the limit read again (<see cref="DecideParked"/>). On streams, whose
    /// hang-ups may come later than a newer connect, until one closes or <see cref="ITransport.LimitWait"/> has passed. It
    /// costs a refused client that wait, and an accepted one nothing.
    /// </summary>
    private void Park(IListener listener, in AcceptedConnection accepted)
    {
        _parked = accepted;
        _parkedRoundEnded = false;
        Volatile.Write(ref _parksForTest, _parksForTest + 1);
        _parkedUntilMs = NowMs + (long)_engine.Transport.LimitWait.TotalMilliseconds;
        // A listener with more queued is reported ready every round: the timed wait would spin on it.
        if (_engine.Transport.LimitWait > TimeSpan.Zero)
            listener.ReportReady(false);
    }

    /// <summary>
    /// After the round that followed the parking, once a place is free or the wait is over: takes or refuses the parked
    /// connection, then accepts on.
    /// </summary>
    private void DecideParked()
    {
        if (!_parkedRoundEnded)
        {
            _parkedRoundEnded = true;
            return;
        }
        var parked = _parked!.Value;
        var full = AtLimit(parked);
        if (full && NowMs < _parkedUntilMs)
            return;
        _parked = null;
        var timed = _engine.Transport.LimitWait > TimeSpan.Zero;
        _limitHeld = full && timed;
        Take(parked);
        if (_listener is null)
            return;
        if (timed)
            _listener.ReportReady(true);
        // The counts are fresh for the rest of this round: what meets a limit now is refused at once, as a genuine
        // limit sheds a crowd at the full accept rate.
        Accept(_listener, limitsAreFresh: true);
    }

    private void DisposeParked()
    {
        if (_parked is { } parked)
        {
            _parked = null;
            parked.Io.Dispose();
        }
    }

    private void Take(in AcceptedConnection accepted)
    {
        if (_engine.Loop.IsStopping)
        {
            accepted.Io.Dispose();
            return;
        }
        if (_options.MaxConnections > 0 && _engine.ConnectionCount >= _options.MaxConnections)
        {
            accepted.Io.SetAbortiveClose();
            accepted.Io.Dispose();
            _engine.ReportRejected(accepted.Peer, DisconnectReason.Limit, $"max_connections {_options.MaxConnections} reached");
            return;
        }
        // A trusted proxy's connections are admitted at the PROXY header, by the client it names: the
        // proxy itself is not one client to limit.
        var proxyHeader = _proxy?.StateFor(accepted.Peer) ?? ProxyHeaderState.None;
        if (_admission.Active && proxyHeader != ProxyHeaderState.Expected && _admission.Check(accepted.Peer, accepted.Local) is var (reason, why))
        {
            accepted.Io.SetAbortiveClose();
            accepted.Io.Dispose();
            _engine.ReportRejected(accepted.Peer, reason, why);
            return;
        }
        if (accepted.SetupProblem is { } problem)
            _engine.Events.RaiseError(StageErrorKind.Setup, $"socket options for {accepted.Peer}: {problem}");
        if (proxyHeader != ProxyHeaderState.None)
            accepted.Io.ExpectProxyHeader(proxyHeader == ProxyHeaderState.Expected, _options.ProxyProtocol);
        // Under TLS the transport screens an untrusted peer's first bytes itself: the stage sees only
        // what comes out of TLS, which is the client's own business.
        if (proxyHeader == ProxyHeaderState.Screen && accepted.Io.HasHandshake)
            proxyHeader = ProxyHeaderState.None;
        if (_engine.AddConnection(accepted.Io, accepted.Peer, accepted.Local, proxyHeader) is { } c && proxyHeader != ProxyHeaderState.Expected)
            _admission.Opened(c);
    }

    /// <summary>Stops accepting for a short while; the warning is rate-limited, as this may repeat many times a second.</summary>
    private void PauseAccepting(IListener listener, string why)
    {
        _engine.Events.RaiseWarning(WarningKind.Accept, StageErrorKind.Accept, why);
        listener.Pause();
        _acceptResumeMs = NowMs + AcceptPauseMs;
    }

    private void RebuildListener(string why)
    {
        _engine.Events.RaiseError(StageErrorKind.Accept, $"{why}; rebuilding the listener, connections stay open");
        CloseListener();
        _nextBindMs = NowMs;
    }

    private void CloseListener()
    {
        DisposeParked();
        if (_listener is null)
            return;
        _listener.Dispose();
        _listener = null;
        _acceptResumeMs = long.MaxValue;
    }

    private int _parksForTest;

    /// <summary>How many connections have met a full limit and waited for their verdict (<see cref="Park"/>), for tests. Any thread.</summary>
    internal int ParksForTest => Volatile.Read(ref _parksForTest);

    /// <summary>Fault injection for tests: breaks the listening socket in the kernel (accept then fails with EINVAL).</summary>
    internal void BreakListenerForTest()
    {
        _listener?.BreakForTest();
    }

    public void OnEstablished(Connection c) { }

    public void OnLeaving(Connection c) { }

    /// <summary>Never: a server's handshake is over when its own side has checked the client, so a failure is seen as one.</summary>
    public string? RefusedAfterHandshake(Connection c, DisconnectReason reason, string? detail) => null;

    public void OnClosed(Connection c, DisconnectReason reason, string? detail)
    {
        _admission.Closed(c);
        // A place is free: the next newcomer to meet the limit waits for its verdict again.
        _limitHeld = false;
    }

    public void StopAccepting()
    {
        // Also before the loop's own stop (ferry run stops accepting while answers in flight are delivered): the listener
        // must not be bound again by the retry that follows a listener lost.
        _acceptingStopped = true;
        CloseListener();
    }

    public void Stopped()
    {
        CloseListener();
        _listening.TrySetCanceled();
    }
}
