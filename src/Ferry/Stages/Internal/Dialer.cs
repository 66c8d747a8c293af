using System.Net;
using System.Net.Sockets;
using Ferry.Connections;
using Ferry.Transport;
using Ferry.Transport.Streams;

namespace Ferry.Stages.Internal;

/// <summary>
/// The client stage's connection source: resolves the remote's name, dials its addresses in turn (the mechanism is the
/// transport's <see cref="IDialAttempt"/>), times each step out, and after a failure or a lost connection waits
/// (exponential back-off with jitter, reset after a healthy connection) and dials again. Tracks readiness for
/// <c>WaitConnectedAsync</c>.
/// </summary>
/// <remarks>
/// One attempt: the name is resolved off the service thread (a resolver that hangs must not stall the loop, its
/// stop or its timers), within <c>connect_timeout</c>; then every address it gave is dialled in turn, IPv4 first,
/// each within <c>connect_timeout</c>, until one answers. The attempt fails only when all of them failed, so a
/// name whose first address is down still reaches the others.
/// </remarks>
internal sealed class Dialer : IConnectionSource
{
    private const long DialToken = -3;

    private readonly StageEngine _engine;
    private readonly TcpClientStageOptions _options;
    private readonly BindAddress _remote;
    private readonly BindAddress? _local;
    private readonly Random _jitter = new();
    private readonly Lock _stateLock = new();
    private TaskCompletionSource<IPEndPoint> _connected = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private IDialAttempt? _dial;
    private IPEndPoint? _dialTarget;
    private Task<IPAddress[]>? _resolving;
    private CancellationTokenSource? _resolveCancel;
    private IPEndPoint[] _targets = [];
    private int _targetIndex;
    private readonly List<string> _targetFailures = [];
    private long _dialDeadlineMs = long.MaxValue;
    private long _nextAttemptMs;
    private int _attempt;
    private int _failures;
    private bool _gaveUp;
    private IOException? _gaveUpError;
    private Connection? _connection;
    /// <summary>The connection closing now, from <see cref="OnLeaving"/> on: no longer connected for anyone who asks.</summary>
    private Connection? _leaving;
    private long _connectedAtMs;
    /// <summary>Whether the current connection was established (ready for messages), not only dialled.</summary>
    private bool _ready;
    /// <summary>The connection closing now that <see cref="RefusedAfterHandshake"/> found refused, until <see cref="OnClosed"/>.</summary>
    private Connection? _refusedAfterHandshake;

    public Dialer(StageEngine engine, TcpClientStageOptions options)
    {
        _engine = engine;
        _options = options;
        _remote = BindAddress.Parse(options.Connect, "connect");
        _local = options.LocalBind is null ? null : BindAddress.Parse(options.LocalBind, "local_bind");
    }

    /// <summary>How names are resolved; tests replace it (a name with several addresses, a resolver that hangs).</summary>
    public Func<string, CancellationToken, Task<IPAddress[]>> ResolveHost { get; set; } = Dns.GetHostAddressesAsync;

    public bool IsConnected => Ready() is not null;

    public IPEndPoint? RemoteEndPoint => Ready()?.Peer;

    public ConnectionId ConnectionId => Ready()?.Id ?? default;

    /// <summary>
    /// The established connection, read from the connection table: it is there before the <c>Connected</c> event is raised
    /// and gone (or leaving) before <c>Disconnected</c> is, so a handler of either sees the state the event announces.
    /// </summary>
    private Connection? Ready()
    {
        var leaving = Volatile.Read(ref _leaving);
        lock (_engine.Table.Sync)
            foreach (var c in _engine.Table.ListLocked)
                if (c.Established && c != leaving)
                    return c;
        return null;
    }

    /// <summary>Whether the stage gave up connecting (its <c>reconnect_attempts</c> are used up): no connection will come.</summary>
    public bool GaveUp => Volatile.Read(ref _gaveUp);

    private long NowMs => _engine.Clock.NowMs;

    /// <summary>
    /// Whether the dialler has nothing under way (no attempt, no connection) and waits for its next attempt's time: on a
    /// fake clock nothing happens until the clock is moved on. Read by tests from other threads, between rounds.
    /// </summary>
    public bool AwaitingNextAttempt => Idle;

    private bool Idle => _connection is null && _dial is null && _resolving is null && !_gaveUp && !_engine.Loop.IsStopping;

    /// <summary>
    /// Completes when the stage is connected. Asked while it is (a <c>Connected</c> handler included), it answers at once from
    /// the table; asked once it gave up (a giving-up <c>ConnectFailed</c> handler included), it fails at once. A wait begun
    /// before resumes only after the event's handlers have run, so it finds what they recorded.
    /// </summary>
    public Task<IPEndPoint> WaitConnectedAsync(CancellationToken cancellationToken)
    {
        if (Ready() is { } ready)
            return Task.FromResult(ready.Peer);
        if (Volatile.Read(ref _gaveUpError) is { } gaveUp)
            return Task.FromException<IPEndPoint>(gaveUp);
        lock (_stateLock)
            return _connected.Task.WaitAsync(cancellationToken);
    }

    public void Start() => _nextAttemptMs = NowMs;

    public long NextDueMs => Math.Min(Idle ? _nextAttemptMs : long.MaxValue, _dialDeadlineMs);

    public void OnTimer()
    {
        if (_resolving is { IsCompleted: true })
            Resolved();
        else if (_resolving is not null && NowMs >= _dialDeadlineMs)
            DialFailed($"cannot resolve '{_remote.Host}': no answer from the resolver within connect_timeout {(long)_options.ConnectTimeout.TotalMilliseconds} ms");
        if (_dial is not null && NowMs >= _dialDeadlineMs)
            TargetFailed($"connect to {_dialTarget}: no answer within connect_timeout {(long)_options.ConnectTimeout.TotalMilliseconds} ms");
        if (Idle && NowMs >= _nextAttemptMs)
            Dial();
    }

    private void Dial()
    {
        _attempt++;
        _engine.Events.RaiseConnecting(new ConnectingEvent(_engine.Name, _engine.Clock.UtcNow, _remote.ToString(), _attempt));
        _targetFailures.Clear();
        if (IPAddress.TryParse(_remote.Host, out var literal))
        {
            DialAll([literal]);
            return;
        }
        // Names are resolved at every attempt, so a moved host is found again; off the service thread, woken when done.
        var cancel = _resolveCancel = new CancellationTokenSource();
        Task<IPAddress[]> resolving;
        try
        {
            resolving = ResolveHost(_remote.Host, cancel.Token);
        }
        catch (Exception ex)
        {
            resolving = Task.FromException<IPAddress[]>(ex);
        }
        _resolving = resolving;
        _dialDeadlineMs = NowMs + (long)_options.ConnectTimeout.TotalMilliseconds;
        if (resolving.IsCompleted)
            Resolved();
        else
            resolving.ContinueWith(static (_, loop) => ((ServiceLoop)loop!).Wake(), _engine.Loop, CancellationToken.None,
                TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
    }

    private void Resolved()
    {
        var resolving = _resolving!;
        DropResolution();
        _dialDeadlineMs = long.MaxValue;
        if (resolving.IsCompletedSuccessfully && resolving.Result.Length > 0)
        {
            DialAll(resolving.Result);
            return;
        }
        var why = resolving.Exception?.InnerException switch
        {
            null => "the name has no addresses",
            SocketException ex => ex.SocketErrorCode == SocketError.HostNotFound ? "HostNotFound (no such name)" : ex.SocketErrorCode.ToString(),
            var ex => ex.Message,
        };
        DialFailed($"cannot resolve '{_remote.Host}': {why}");
    }

    /// <summary>Dials the addresses in turn, IPv4 first (what servers most often listen on, e.g. for <c>localhost</c>).</summary>
    private void DialAll(IPAddress[] addresses)
    {
        _targets = [.. addresses.Where(a => a.AddressFamily == AddressFamily.InterNetwork).Concat(addresses.Where(a => a.AddressFamily != AddressFamily.InterNetwork))
            .Distinct().Select(a => new IPEndPoint(a, _remote.Port))];
        _targetIndex = 0;
        DialTarget();
    }

    private void DialTarget()
    {
        var target = _targets[_targetIndex];
        var dial = _dial = _engine.Transport.CreateDial(DialToken);
        _dialTarget = target;
        var failure = dial.Start(target, _local, _options.Socket, out var connected, out var setupProblem);
        if (setupProblem is not null)
            _engine.Events.RaiseError(StageErrorKind.Setup, setupProblem);
        if (failure is not null)
        {
            TargetFailed(failure);
            return;
        }
        if (connected)
        {
            DialSucceeded();
            return;
        }
        _dialDeadlineMs = NowMs + (long)_options.ConnectTimeout.TotalMilliseconds;
    }

    /// <summary>One address failed: the next one is dialled at once; when none is left, the attempt failed, for the reasons of all.</summary>
    private void TargetFailed(string reason)
    {
        DropDial();
        _targetFailures.Add(reason);
        if (++_targetIndex < _targets.Length && !_engine.Loop.IsStopping)
        {
            DialTarget();
            return;
        }
        DialFailed(string.Join("; ", _targetFailures));
    }

    public void OnEvent(long token, ReadyFlags flags)
    {
        if (token != DialToken || _dial is null)
            return;
        var failure = _dial.Outcome();
        if (failure is null)
            DialSucceeded();
        else
            TargetFailed(failure);
    }

    private void DialSucceeded()
    {
        var dial = _dial!;
        var io = dial.TakeConnection(out var local);
        dial.Dispose();
        _dial = null;
        _dialDeadlineMs = long.MaxValue;
        _ready = false;
        // A plain framing establishes the connection inside AddConnection; a session framing or TLS later.
        var connection = _engine.AddConnection(io, _dialTarget!, local ?? new IPEndPoint(IPAddress.Any, 0));
        if (connection is null)
            ScheduleRetry("could not watch the new connection");
        else
            Volatile.Write(ref _connection, connection);
    }

    /// <summary>Ready once messages may flow: at once for plain framings, after the handshake for session framings.</summary>
    public void OnEstablished(Connection c)
    {
        // Ready only now: a TLS or session handshake that fails is a failed attempt, not a lost connection. The attempt's
        // number is not reset yet, but when the connection ends having proved itself (OnClosed): a TLS server may still
        // refuse the handshake that finished here (see RefusedAfterHandshake), and that attempt failed too.
        _ready = true;
        _connectedAtMs = NowMs;
        Volatile.Write(ref _connection, c);
        Volatile.Write(ref _leaving, null);
        lock (_stateLock)
            _connected.TrySetResult(c.Peer);
    }

    private void DialFailed(string reason)
    {
        DropDial();
        DropResolution();
        ScheduleRetry(reason);
    }

    private void DropResolution()
    {
        if (_resolving is null)
            return;
        _resolveCancel!.Cancel();
        _resolveCancel.Dispose();
        _resolveCancel = null;
        _resolving = null;
    }

    private void DropDial()
    {
        _dial?.Dispose();
        _dial = null;
        _dialDeadlineMs = long.MaxValue;
    }

    /// <param name="reason">Why the attempt failed, or why the connection ended.</param>
    /// <param name="connectionLost">An established connection ended: no attempt failed, so the event's attempt is 0 (the count
    /// of failed attempts, which starts again after a success) and its reason says why the connection ended.</param>
    private void ScheduleRetry(string reason, bool connectionLost = false)
    {
        _failures++;
        if (_engine.Loop.IsStopping)
            return;
        var givingUp = _options.ReconnectAttempts > 0 && _attempt >= _options.ReconnectAttempts;
        var wait = givingUp ? TimeSpan.Zero : NextWait();
        _nextAttemptMs = NowMs + (long)wait.TotalMilliseconds;
        Volatile.Write(ref _gaveUp, givingUp);
        // Held egress waits for a connection that will never come: it is let go (counted as dropped) now, not
        // when the stage is disposed, and before the events say the stage gave up; a wait for the connection asked from
        // now on (a handler of those events included) fails at once.
        if (givingUp)
        {
            _engine.ReleaseHeld();
            Volatile.Write(ref _gaveUpError, new IOException($"'{_engine.Name}' gave up connecting to {_remote} after {_attempt} attempts: {reason}"));
        }
        _engine.Events.RaiseConnectFailed(new ConnectFailedEvent(_engine.Name, _engine.Clock.UtcNow, _remote.ToString(), _attempt, reason, wait, givingUp)
        {
            ConnectionLost = connectionLost,
        });
        if (givingUp)
        {
            _engine.Events.RaiseConnectGaveUp($"giving up on {_remote} after {_attempt} attempts");
            lock (_stateLock)
                _connected.TrySetException(_gaveUpError!);
        }
    }

    /// <summary>reconnect_wait × 2^(failures−1), capped, with ± jitter.</summary>
    private TimeSpan NextWait()
    {
        var exponent = Math.Min(_failures - 1, 30);
        var baseMs = Math.Min(_options.ReconnectWait.TotalMilliseconds * Math.Pow(2, exponent), _options.ReconnectMaxWait.TotalMilliseconds);
        var spread = 1 + _options.ReconnectJitter * (_jitter.NextDouble() * 2 - 1);
        return TimeSpan.FromMilliseconds(Math.Max(1, baseMs * spread));
    }

    /// <summary>
    /// The ready connection is leaving: from now on a <c>WaitConnectedAsync</c> waits for the next one. Before the
    /// connection leaves the table and before <c>Disconnected</c> is raised, so that nobody who learns of the loss
    /// (the event, <c>IsConnected</c> false, <c>ConnectionId</c> None) can find the old wait still complete and act on
    /// a connection that is gone.
    /// </summary>
    public void OnLeaving(Connection c)
    {
        if (c != _connection || !_ready)
            return;
        Volatile.Write(ref _leaving, c);
        lock (_stateLock)
            if (_connected.Task.IsCompleted)
                _connected = new TaskCompletionSource<IPEndPoint>(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    /// <summary>
    /// Whether the server refused the TLS handshake of <paramref name="c"/> after it had finished here: then the detail that
    /// says so, and the close is a failed attempt (<see cref="OnClosed"/>) and a failed handshake for the stage's events and counts.
    /// </summary>
    /// <remarks>
    /// <para>Why: under TLS 1.3 the client's handshake ends with its own Finished, sent with its certificate; the server checks
    /// that certificate only then, and refuses it with an alert the client reads after its handshake is over (an OpenSSL
    /// server, Ferry's epoll transport). SslStream servers (Ferry's stream transport, under TLS 1.2 as well) check the certificate
    /// after their whole handshake and refuse by closing, with no alert. Taken at its word, the close was a connection lost:
    /// attempt 0, the count started again, and a refused client certificate became an endless loop of "connections" that never
    /// counted against <c>reconnect_attempts</c> nor showed as a failed handshake.</para>
    /// <para>The rule: a TLS connection is proven once the server has sent it something (any byte of application data, or a
    /// session framing's handshake), or once it has stayed open <c>tls.handshake_timeout</c> from its opening (the handshake's
    /// own limit; a refusal comes one round trip after the handshake). A connection the server ends before it is proven, with a
    /// TLS error (its alert), an orderly close or a reset, is taken as refused in its handshake. A close of the stage's own
    /// (idle_timeout, a kill, a stop, the egress policy) is never one. Plain connections are proven by the connect itself.
    /// The cost: a server that closes a fresh TLS connection on purpose, without a word and within the handshake timeout, is
    /// reported as a failed handshake, and counts as the failed attempt it looks like. Decided at the close, from what the
    /// connection already counts (bytes in, when it opened): nothing is added to the receive path.</para>
    /// </remarks>
    public string? RefusedAfterHandshake(Connection c, DisconnectReason reason, string? detail)
    {
        _refusedAfterHandshake = null;
        if (c != _connection || !_ready || c.Tls is null || c.BytesIn > 0 || _engine.Loop.IsStopping
            || NowMs - c.OpenedAtMs >= (long)(_options.Tls?.HandshakeTimeout ?? TimeSpan.Zero).TotalMilliseconds)
            return null;
        var refusal = reason switch
        {
            DisconnectReason.TlsError => TlsFailure.AsHandshakeFailure(detail),
            DisconnectReason.RemoteClosed or DisconnectReason.Reset => TlsFailure.HandshakeFailed
                + $"the server ended the connection ({Why(reason, detail)}) after the handshake, before sending anything: "
                + "a server refuses the client certificate (or its absence) so once the client's side of the handshake is done",
            _ => null,
        };
        if (refusal is not null)
            _refusedAfterHandshake = c;
        return refusal;
    }

    public void OnClosed(Connection c, DisconnectReason reason, string? detail)
    {
        if (c != _connection)
            return;
        Volatile.Write(ref _connection, null);
        var refused = c == _refusedAfterHandshake;
        _refusedAfterHandshake = null;
        if (!_ready || refused)
        {
            // Closed before it was ready (TLS refused, a session handshake failed or timed out, the server hung up
            // at once), or refused in a TLS handshake that had finished only here: this attempt failed, with that reason.
            // It counts against reconnect_attempts and, never having been up, does not reset the back-off.
            if (!_engine.Loop.IsStopping)
                ScheduleRetry(NotReadyReason(c, reason, detail, _options.Tls?.HandshakeTimeout ?? TimeSpan.Zero));
            return;
        }
        // A connection that was healthy for a while starts the back-off afresh.
        if (NowMs - _connectedAtMs >= (long)_options.HealthyAfter.TotalMilliseconds)
            _failures = 0;
        _attempt = 0;
        // Said with the disconnect's reason (remote_closed, reset: ECONNRESET, idle_timeout, ...), so a reader of the
        // connect_failed lines alone knows why the stage is dialling again.
        if (!_engine.Loop.IsStopping)
            ScheduleRetry($"connection to {c.Peer} ended ({Why(reason, detail)})", connectionLost: true);
    }

    private static string Why(DisconnectReason reason, string? detail) => detail is null ? reason.ToName() : $"{reason.ToName()}: {detail}";

    private static string NotReadyReason(Connection c, DisconnectReason reason, string? detail, TimeSpan handshakeTimeout)
    {
        var why = Why(reason, detail);
        return reason switch
        {
            DisconnectReason.TlsError => $"TLS handshake with {c.Peer} failed: {detail ?? "refused"}",
            // With its value, as connect_timeout's line gives its own: the key alone sent a user of ferry connect (--tls-handshake-timeout) looking.
            DisconnectReason.TlsHandshakeTimeout => $"TLS handshake with {c.Peer} not done within tls.handshake_timeout {(long)handshakeTimeout.TotalMilliseconds} ms ({why})",
            _ => $"connection to {c.Peer} ended before it was ready ({why})",
        };
    }

    public void StopAccepting()
    {
        DropDial();
        DropResolution();
    }

    public void Stopped()
    {
        DropDial();
        DropResolution();
        // What was held for a connection that will not come now is dropped, and counted as such.
        _engine.ReleaseHeld();
        lock (_stateLock)
            _connected.TrySetCanceled();
    }
}
