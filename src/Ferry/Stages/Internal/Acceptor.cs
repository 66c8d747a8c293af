using System.Net;
using System.Net.Sockets;
using Ferry.Connections;
using Ferry.Transport;
using Ferry.Transport.Interop;

namespace Ferry.Stages.Internal;

/// <summary>
/// The server stage's connection source: binds with retry and capped back-off, accepts, enforces the
/// connection limit, pauses when descriptors run out, and rebuilds a listener that failed.
/// </summary>
internal sealed unsafe class Acceptor : IConnectionSource
{
    private const long ListenerToken = -2;
    private const int AcceptsPerRound = 64;
    private const long AcceptPauseMs = 100;

    private readonly StageEngine _engine;
    private readonly TcpServerStageOptions _options;
    private readonly BindAddress _bind;
    private readonly TaskCompletionSource<IPEndPoint> _listening = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private ListenSocket? _listener;
    private int _boundPort;
    private long _nextBindMs;
    private TimeSpan _bindDelay;
    private int _bindFailures;
    private long _acceptResumeMs = long.MaxValue;
    /// <summary>A new descriptor at or above this number means the process is about to run out: the connection is shed.</summary>
    private readonly long _descriptorCeiling;
    private readonly long _descriptorLimit;

    public Acceptor(StageEngine engine, TcpServerStageOptions options)
    {
        // Descriptors are handed out lowest first, so an accepted one numbered N means all below N are
        // in use. Keeping a reserve below the process limit leaves the runtime and the stage room for
        // the files, sockets and pipes they open themselves (running out there crashes the process).
        var limit = _descriptorLimit = Libc.DescriptorLimit();
        _descriptorCeiling = limit <= 0 ? long.MaxValue : limit - Math.Clamp(limit / 20, Math.Min(32, limit / 4), 1024);
        _engine = engine;
        _options = options;
        _bind = BindAddress.Parse(options.Bind);
        _boundPort = _bind.Port;
        _bindDelay = options.BindRetryDelay;
    }

    public Task<IPEndPoint> ListeningTask => _listening.Task;

    public IPEndPoint? LocalEndPoint => _listener?.LocalEndPoint;

    private long NowMs => _engine.Clock.NowMs;

    public void Start() => TryBind();

    public long NextDueMs => Math.Min(_listener is null && !_engine.Loop.IsStopping ? _nextBindMs : long.MaxValue, _acceptResumeMs);

    public void OnTimer()
    {
        if (_listener is null && !_engine.Loop.IsStopping && NowMs >= _nextBindMs)
            TryBind();
        if (_listener is not null && NowMs >= _acceptResumeMs)
        {
            _acceptResumeMs = long.MaxValue;
            _engine.Readiness.Change(_listener.Handle, ReadyFlags.Readable, ListenerToken);
        }
    }

    private void TryBind()
    {
        // After a rebuild, a port the kernel picked (port 0) is asked for again so clients can come back.
        var address = _bind with { Port = _boundPort };
        try
        {
            var listener = ListenSocket.Open(address, _options.Backlog, _options.Socket);
            var rc = _engine.Readiness.Watch(listener.Handle, ReadyFlags.Readable, ListenerToken);
            if (rc != 0)
            {
                listener.Dispose();
                throw new SocketException(rc);
            }
            _listener = listener;
            _boundPort = listener.LocalEndPoint.Port;
            _bindDelay = _options.BindRetryDelay;
            _bindFailures = 0;
            Log.Listening(_engine.Events.Logger, _engine.Name, listener.LocalEndPoint);
            _engine.Events.RaiseListening(new ListeningEvent(_engine.Name, _engine.Clock.UtcNow, listener.LocalEndPoint));
            _listening.TrySetResult(listener.LocalEndPoint);
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
            _engine.Events.RaiseError(StageErrorKind.Bind, message);
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

    private void Accept(ListenSocket listener)
    {
        var addr = stackalloc byte[SockAddr.StorageSize];
        for (var i = 0; i < AcceptsPerRound; i++)
        {
            var length = SockAddr.StorageSize;
            var fd = Libc.accept4(listener.Fd, addr, &length, Libc.SOCK_NONBLOCK | Libc.SOCK_CLOEXEC);
            if (fd < 0)
            {
                if (!AcceptFailed(listener, Libc.LastError))
                    return;
                continue;
            }
            var handle = new SocketHandle(fd);
            var peer = SockAddr.Read(addr, length) ?? new IPEndPoint(IPAddress.None, 0);
            if (_engine.Loop.IsStopping)
            {
                handle.Dispose();
                continue;
            }
            if (fd >= _descriptorCeiling)
            {
                // At the reserve: shed this one with a reset (the client learns at once), pause
                // accepting, and try again shortly; accepting resumes by itself once descriptors free up.
                SocketConfigurator.SetAbortiveClose(fd);
                handle.Dispose();
                _engine.ReportRejected(peer, DisconnectReason.Limit, $"out of file descriptors (descriptor {fd} is in the reserve kept below the process limit of {_descriptorLimit})");
                PauseAccepting(listener, $"file descriptors are running out (reserve kept below the process limit); pausing accepts for {AcceptPauseMs} ms");
                return;
            }
            if (_options.MaxConnections > 0 && _engine.ConnectionCount >= _options.MaxConnections)
            {
                SocketConfigurator.SetAbortiveClose(fd);
                handle.Dispose();
                _engine.ReportRejected(peer, DisconnectReason.Limit, $"max_connections {_options.MaxConnections} reached");
                continue;
            }
            var rc = SocketConfigurator.Apply(fd, _options.Socket);
            if (rc != 0)
                _engine.Events.RaiseError(StageErrorKind.Setup, $"socket options for {peer}: {Libc.Describe(rc)}");
            _engine.AddConnection(new SocketIo(handle), peer, LocalOf(fd, listener));
        }
    }

    /// <summary>Handles a failed accept; true when accepting may go on in this round.</summary>
    private bool AcceptFailed(ListenSocket listener, int errno)
    {
        switch (errno)
        {
            case Libc.EAGAIN:
                return false;
            case Libc.EINTR or Libc.ECONNABORTED or Libc.EPROTO or Libc.EPERM
                or Libc.ENETDOWN or Libc.ENONET or Libc.EHOSTDOWN or Libc.EHOSTUNREACH or Libc.ENETUNREACH or Libc.EOPNOTSUPP:
                return true; // that one client is gone; the listener is fine
            case Libc.EMFILE or Libc.ENFILE or Libc.ENOBUFS or Libc.ENOMEM:
                // Out of descriptors or memory: pause accepting instead of spinning on a
                // level-triggered listener that stays readable.
                PauseAccepting(listener, $"accept failed: {Libc.Describe(errno)}; pausing accepts for {AcceptPauseMs} ms");
                return false;
            default:
                RebuildListener($"accept failed: {Libc.Describe(errno)}");
                return false;
        }
    }

    private void PauseAccepting(ListenSocket listener, string why)
    {
        _engine.Events.RaiseWarning(WarningKind.Accept, StageErrorKind.Accept, why);
        _engine.Readiness.Change(listener.Handle, ReadyFlags.None, ListenerToken);
        _acceptResumeMs = NowMs + AcceptPauseMs;
    }

    private IPEndPoint LocalOf(int fd, ListenSocket listener)
    {
        if (!_bind.IsAnyHost)
            return listener.LocalEndPoint;
        var addr = stackalloc byte[SockAddr.StorageSize];
        var length = SockAddr.StorageSize;
        return Libc.getsockname(fd, addr, &length) == 0 ? SockAddr.Read(addr, length) ?? listener.LocalEndPoint : listener.LocalEndPoint;
    }

    private void RebuildListener(string why)
    {
        _engine.Events.RaiseError(StageErrorKind.Accept, $"{why}; rebuilding the listener, connections stay open");
        CloseListener();
        _nextBindMs = NowMs;
    }

    private void CloseListener()
    {
        if (_listener is null)
            return;
        _engine.Readiness.Unwatch(_listener.Handle);
        _listener.Dispose();
        _listener = null;
        _acceptResumeMs = long.MaxValue;
    }

    /// <summary>Fault injection for tests: breaks the listening socket in the kernel (accept then fails with EINVAL).</summary>
    internal void BreakListenerForTest()
    {
        if (_listener is { } l)
            Libc.shutdown(l.Fd, 2);
    }

    public void OnEstablished(Connection c) { }

    public void OnClosed(Connection c) { }

    public void StopAccepting() => CloseListener();

    public void Stopped()
    {
        CloseListener();
        _listening.TrySetCanceled();
    }
}
