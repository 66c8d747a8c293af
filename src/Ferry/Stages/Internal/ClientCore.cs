using System.Net;
using System.Net.Sockets;
using Ferry.Bus;
using Ferry.Connections;
using Ferry.Transport;
using Ferry.Transport.Interop;
using Microsoft.Extensions.Logging;

namespace Ferry.Stages.Internal;

/// <summary>
/// The client side of the loop: dial with a non-blocking connect, time the attempt out, and after a
/// failure or a lost connection wait (exponential back-off with jitter) and dial again.
/// </summary>
internal sealed unsafe class ClientCore : StageCore
{
    private const long DialToken = -3;

    private readonly TcpClientStageOptions _options;
    private readonly BindAddress _remote;
    private readonly BindAddress? _local;
    private readonly Random _jitter = new();
    private readonly Lock _stateLock = new();
    private TaskCompletionSource<IPEndPoint> _connected = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private int _dialFd = -1;
    private IPEndPoint? _dialTarget;
    private long _dialDeadlineMs = long.MaxValue;
    private long _nextAttemptMs;
    private int _attempt;
    private int _failures;
    private bool _gaveUp;
    private Connection? _connection;
    private long _connectedAtMs;

    public ClientCore(object owner, TcpClientStageOptions options, IMessageBus bus, ILogger logger)
        : base(owner, CoreSettings.From(options), bus, logger)
    {
        _options = options;
        _remote = BindAddress.Parse(options.Connect, "connect");
        _local = options.LocalBind is null ? null : BindAddress.Parse(options.LocalBind, "local_bind");
    }

    public event EventHandler<ConnectingEvent>? Connecting;
    public event EventHandler<ConnectFailedEvent>? ConnectFailed;

    public bool IsConnected => Volatile.Read(ref _connection) is { Established: true };

    public IPEndPoint? RemoteEndPoint => Volatile.Read(ref _connection)?.Peer;

    public ConnectionId ConnectionId => Volatile.Read(ref _connection)?.Id ?? default;

    /// <summary>Completes when the stage is connected (at once if it is now).</summary>
    public Task<IPEndPoint> WaitConnectedAsync(CancellationToken cancellationToken)
    {
        lock (_stateLock)
            return _connected.Task.WaitAsync(cancellationToken);
    }

    protected override void OnStarted() => _nextAttemptMs = NowMs;

    protected override long NextTimerMs() => Math.Min(_connection is null && _dialFd < 0 && !_gaveUp && !IsStopping ? _nextAttemptMs : long.MaxValue, _dialDeadlineMs);

    protected override void OnTimers()
    {
        if (_dialFd >= 0 && NowMs >= _dialDeadlineMs)
            DialFailed($"no answer within connect_timeout {(long)_options.ConnectTimeout.TotalMilliseconds} ms");
        if (_connection is null && _dialFd < 0 && !_gaveUp && !IsStopping && NowMs >= _nextAttemptMs)
            Dial();
    }

    private void Dial()
    {
        _attempt++;
        RaiseAndPublish(Connecting, new ConnectingEvent(Name, DateTimeOffset.UtcNow, _remote.ToString(), _attempt));
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
        _dialFd = fd;
        _dialTarget = target;
        var rc = SocketConfigurator.Apply(fd, _options.Socket);
        if (rc != 0)
            RaiseError(StageErrorKind.Setup, $"socket options: {Libc.Describe(rc)}");
        var addr = stackalloc byte[SockAddr.StorageSize];
        if (_local is not null)
        {
            SocketConfigurator.SetInt(fd, Libc.SOL_SOCKET, 2 /* SO_REUSEADDR */, 1);
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
        Reactor.Add(fd, Libc.EPOLLOUT, DialToken);
        _dialDeadlineMs = NowMs + (long)_options.ConnectTimeout.TotalMilliseconds;
    }

    protected override void OnSpecialEvent(long token, uint events)
    {
        if (token != DialToken || _dialFd < 0)
            return;
        var error = SocketConfigurator.GetInt(_dialFd, Libc.SOL_SOCKET, Libc.SO_ERROR);
        if (error == 0)
            DialSucceeded();
        else
            DialFailed($"connect to {_dialTarget} failed: {Libc.Describe(error)}");
    }

    private void DialSucceeded()
    {
        var fd = _dialFd;
        Reactor.Remove(fd);
        _dialFd = -1;
        _dialDeadlineMs = long.MaxValue;
        var addr = stackalloc byte[SockAddr.StorageSize];
        var length = SockAddr.StorageSize;
        var local = Libc.getsockname(fd, addr, &length) == 0 ? SockAddr.Read(addr, length) : null;
        var connection = AddConnection(fd, _dialTarget!, local ?? new IPEndPoint(IPAddress.Any, 0));
        if (connection is null)
        {
            ScheduleRetry("could not watch the new connection");
            return;
        }
        _attempt = 0;
        _connectedAtMs = NowMs;
        Volatile.Write(ref _connection, connection);
        if (connection.Established)
            OnConnectionEstablished(connection); // a plain framing was established inside AddConnection
    }

    /// <summary>Ready once messages may flow: at once for plain framings, after the handshake for session framings.</summary>
    protected override void OnConnectionEstablished(Connection c)
    {
        if (c != _connection)
            return;
        lock (_stateLock)
            _connected.TrySetResult(c.Peer);
    }

    private void DialFailed(string reason)
    {
        if (_dialFd >= 0)
        {
            Reactor.Remove(_dialFd);
            Libc.close(_dialFd);
            _dialFd = -1;
        }
        _dialDeadlineMs = long.MaxValue;
        ScheduleRetry(reason);
    }

    private void ScheduleRetry(string reason)
    {
        _failures++;
        if (IsStopping)
            return;
        var givingUp = _options.ReconnectAttempts > 0 && _attempt >= _options.ReconnectAttempts;
        var wait = givingUp ? TimeSpan.Zero : NextWait();
        _nextAttemptMs = NowMs + (long)wait.TotalMilliseconds;
        _gaveUp = givingUp;
        RaiseAndPublish(ConnectFailed, new ConnectFailedEvent(Name, DateTimeOffset.UtcNow, _remote.ToString(), _attempt, reason, wait, givingUp));
        if (givingUp)
        {
            RaiseError(StageErrorKind.Setup, $"giving up on {_remote} after {_attempt} attempts");
            lock (_stateLock)
                _connected.TrySetException(new IOException($"'{Name}' gave up connecting to {_remote} after {_attempt} attempts: {reason}"));
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

    protected override void OnConnectionClosed(Connection c)
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
        if (!IsStopping)
            ScheduleRetry("connection lost");
    }

    protected override void OnStopAccepting()
    {
        if (_dialFd >= 0)
        {
            Reactor.Remove(_dialFd);
            Libc.close(_dialFd);
            _dialFd = -1;
        }
    }

    protected override void OnStopped()
    {
        OnStopAccepting();
        lock (_stateLock)
            _connected.TrySetCanceled();
    }
}
