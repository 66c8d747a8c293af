using System.Net;
using System.Net.Sockets;
using Ferry.Connections;
using Ferry.Transport;
using Ferry.Transport.Interop;

namespace Ferry.Stages.Internal;

/// <summary>
/// The client stage's connection source: dials with a non-blocking connect, times the attempt out,
/// and after a failure or a lost connection waits (exponential back-off with jitter, reset after a
/// healthy connection) and dials again. Tracks readiness for <c>WaitConnectedAsync</c>.
/// </summary>
internal sealed unsafe class Dialer : IConnectionSource
{
    private const long DialToken = -3;

    private readonly StageEngine _engine;
    private readonly TcpClientStageOptions _options;
    private readonly BindAddress _remote;
    private readonly BindAddress? _local;
    private readonly Random _jitter = new();
    private readonly Lock _stateLock = new();
    private TaskCompletionSource<IPEndPoint> _connected = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private SocketHandle? _dial;
    private IPEndPoint? _dialTarget;
    private long _dialDeadlineMs = long.MaxValue;
    private long _nextAttemptMs;
    private int _attempt;
    private int _failures;
    private bool _gaveUp;
    private Connection? _connection;
    private long _connectedAtMs;

    public Dialer(StageEngine engine, TcpClientStageOptions options)
    {
        _engine = engine;
        _options = options;
        _remote = BindAddress.Parse(options.Connect, "connect");
        _local = options.LocalBind is null ? null : BindAddress.Parse(options.LocalBind, "local_bind");
    }

    public bool IsConnected => Volatile.Read(ref _connection) is { Established: true };

    public IPEndPoint? RemoteEndPoint => Volatile.Read(ref _connection)?.Peer;

    public ConnectionId ConnectionId => Volatile.Read(ref _connection)?.Id ?? default;

    private long NowMs => _engine.Clock.NowMs;

    private bool Idle => _connection is null && _dial is null && !_gaveUp && !_engine.Loop.IsStopping;

    /// <summary>Completes when the stage is connected (at once if it is now).</summary>
    public Task<IPEndPoint> WaitConnectedAsync(CancellationToken cancellationToken)
    {
        lock (_stateLock)
            return _connected.Task.WaitAsync(cancellationToken);
    }

    public void Start() => _nextAttemptMs = NowMs;

    public long NextDueMs => Math.Min(Idle ? _nextAttemptMs : long.MaxValue, _dialDeadlineMs);

    public void OnTimer()
    {
        if (_dial is not null && NowMs >= _dialDeadlineMs)
            DialFailed($"no answer within connect_timeout {(long)_options.ConnectTimeout.TotalMilliseconds} ms");
        if (Idle && NowMs >= _nextAttemptMs)
            Dial();
    }

    private void Dial()
    {
        _attempt++;
        _engine.Events.RaiseConnecting(new ConnectingEvent(_engine.Name, _engine.Clock.UtcNow, _remote.ToString(), _attempt));
        IPEndPoint target;
        try
        {
            // Names are resolved at every attempt, so a moved host is found again.
            target = ListenSocket.Resolve(_remote);
        }
        catch (SocketException ex)
        {
            DialFailed($"cannot resolve '{_remote.Host}': {ex.SocketErrorCode}");
            return;
        }
        var family = target.AddressFamily == AddressFamily.InterNetworkV6 ? Libc.AF_INET6 : Libc.AF_INET;
        var fd = Libc.socket(family, Libc.SOCK_STREAM | Libc.SOCK_NONBLOCK | Libc.SOCK_CLOEXEC, 0);
        if (fd < 0)
        {
            DialFailed($"socket() failed: {Libc.Describe(Libc.LastError)}");
            return;
        }
        _dial = new SocketHandle(fd);
        _dialTarget = target;
        var rc = SocketConfigurator.Apply(fd, _options.Socket);
        if (rc != 0)
            _engine.Events.RaiseError(StageErrorKind.Setup, $"socket options: {Libc.Describe(rc)}");
        var addr = stackalloc byte[SockAddr.StorageSize];
        if (_local is not null)
        {
            SocketConfigurator.SetInt(fd, Libc.SOL_SOCKET, Libc.SO_REUSEADDR, 1);
            var localLength = SockAddr.Write(new IPEndPoint(_local.IsAnyHost ? IPAddress.Any : IPAddress.Parse(_local.Host), _local.Port), addr);
            if (Libc.bind(fd, addr, localLength) != 0)
            {
                DialFailed($"cannot bind local address {_local}: {Libc.Describe(Libc.LastError)}");
                return;
            }
        }
        var length = SockAddr.Write(target, addr);
        if (Libc.connect(fd, addr, length) == 0)
        {
            DialSucceeded();
            return;
        }
        var errno = Libc.LastError;
        if (errno != Libc.EINPROGRESS)
        {
            DialFailed($"connect to {target} failed: {Libc.Describe(errno)}");
            return;
        }
        // Without the watch, the connect's outcome would never be seen: fail the attempt, not hang in it.
        rc = _engine.Readiness.Watch(_dial, ReadyFlags.Writable, DialToken);
        if (rc != 0)
        {
            DialFailed($"could not watch the connect to {target}: {Libc.Describe(rc)}");
            return;
        }
        _dialDeadlineMs = NowMs + (long)_options.ConnectTimeout.TotalMilliseconds;
    }

    public void OnEvent(long token, ReadyFlags flags)
    {
        if (token != DialToken || _dial is null)
            return;
        var error = SocketConfigurator.GetInt(_dial.Fd, Libc.SOL_SOCKET, Libc.SO_ERROR);
        if (error == 0)
            DialSucceeded();
        else
            DialFailed($"connect to {_dialTarget} failed: {Libc.Describe(error)}");
    }

    private void DialSucceeded()
    {
        var handle = _dial!;
        _engine.Readiness.Unwatch(handle);
        _dial = null;
        _dialDeadlineMs = long.MaxValue;
        var addr = stackalloc byte[SockAddr.StorageSize];
        var length = SockAddr.StorageSize;
        var local = Libc.getsockname(handle.Fd, addr, &length) == 0 ? SockAddr.Read(addr, length) : null;
        _attempt = 0;
        _connectedAtMs = NowMs;
        // A plain framing establishes the connection inside AddConnection; a session framing later.
        var connection = _engine.AddConnection(new SocketIo(handle), _dialTarget!, local ?? new IPEndPoint(IPAddress.Any, 0));
        if (connection is null)
            ScheduleRetry("could not watch the new connection");
        else
            Volatile.Write(ref _connection, connection);
    }

    /// <summary>Ready once messages may flow: at once for plain framings, after the handshake for session framings.</summary>
    public void OnEstablished(Connection c)
    {
        Volatile.Write(ref _connection, c);
        lock (_stateLock)
            _connected.TrySetResult(c.Peer);
    }

    private void DialFailed(string reason)
    {
        DropDial();
        ScheduleRetry(reason);
    }

    private void DropDial()
    {
        if (_dial is not null)
        {
            _engine.Readiness.Unwatch(_dial);
            _dial.Dispose();
            _dial = null;
        }
        _dialDeadlineMs = long.MaxValue;
    }

    private void ScheduleRetry(string reason)
    {
        _failures++;
        if (_engine.Loop.IsStopping)
            return;
        var givingUp = _options.ReconnectAttempts > 0 && _attempt >= _options.ReconnectAttempts;
        var wait = givingUp ? TimeSpan.Zero : NextWait();
        _nextAttemptMs = NowMs + (long)wait.TotalMilliseconds;
        _gaveUp = givingUp;
        _engine.Events.RaiseConnectFailed(new ConnectFailedEvent(_engine.Name, _engine.Clock.UtcNow, _remote.ToString(), _attempt, reason, wait, givingUp));
        if (givingUp)
        {
            _engine.Events.RaiseError(StageErrorKind.Setup, $"giving up on {_remote} after {_attempt} attempts");
            lock (_stateLock)
                _connected.TrySetException(new IOException($"'{_engine.Name}' gave up connecting to {_remote} after {_attempt} attempts: {reason}"));
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

    public void OnClosed(Connection c)
    {
        if (c != _connection)
            return;
        Volatile.Write(ref _connection, null);
        lock (_stateLock)
            if (_connected.Task.IsCompleted)
                _connected = new TaskCompletionSource<IPEndPoint>(TaskCreationOptions.RunContinuationsAsynchronously);
        // A connection that was healthy for a while starts the back-off afresh.
        if (NowMs - _connectedAtMs >= (long)_options.HealthyAfter.TotalMilliseconds)
            _failures = 0;
        _attempt = 0;
        if (!_engine.Loop.IsStopping)
            ScheduleRetry("connection lost");
    }

    public void StopAccepting() => DropDial();

    public void Stopped()
    {
        DropDial();
        lock (_stateLock)
            _connected.TrySetCanceled();
    }
}
