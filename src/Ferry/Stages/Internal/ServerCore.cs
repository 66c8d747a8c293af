using System.Net;
using System.Net.Sockets;
using Ferry.Bus;
using Ferry.Transport;
using Ferry.Transport.Interop;
using Microsoft.Extensions.Logging;

namespace Ferry.Stages.Internal;

/// <summary>The server side of the loop: bind with retry, accept, enforce the connection limit, rebuild a failed listener.</summary>
internal sealed unsafe class ServerCore : StageCore
{
    private const long ListenerToken = -2;
    private const int AcceptsPerRound = 64;

    private readonly TcpServerStageOptions _options;
    private readonly BindAddress _bind;
    private readonly TaskCompletionSource<IPEndPoint> _listening = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private ListenSocket? _listener;
    private int _boundPort;
    private long _nextBindMs;
    private TimeSpan _bindDelay;
    private int _bindFailures;
    private long _acceptResumeMs = long.MaxValue;

    public ServerCore(object owner, TcpServerStageOptions options, IMessageBus bus, ILogger logger)
        : base(owner, CoreSettings.From(options), bus, logger)
    {
        _options = options;
        _bind = BindAddress.Parse(options.Bind);
        _boundPort = _bind.Port;
        _bindDelay = options.BindRetryDelay;
    }

    public Task<IPEndPoint> ListeningTask => _listening.Task;

    public IPEndPoint? LocalEndPoint => _listener?.LocalEndPoint;

    protected override void OnStarted() => TryBind();

    protected override long NextTimerMs() => Math.Min(_listener is null && !IsStopping ? _nextBindMs : long.MaxValue, _acceptResumeMs);

    protected override void OnTimers()
    {
        if (_listener is null && !IsStopping && NowMs >= _nextBindMs)
            TryBind();
        if (_listener is not null && NowMs >= _acceptResumeMs)
        {
            _acceptResumeMs = long.MaxValue;
            Reactor.Modify(_listener.Fd, Libc.EPOLLIN, ListenerToken);
        }
    }

    private void TryBind()
    {
        // After a rebuild, a port the kernel picked (port 0) is asked for again so clients can come back.
        var address = _bind with { Port = _boundPort };
        try
        {
            var listener = ListenSocket.Open(address, _options.Backlog, _options.Socket);
            var rc = Reactor.Add(listener.Fd, Libc.EPOLLIN, ListenerToken);
            if (rc != 0)
            {
                listener.Dispose();
                throw new SocketException(rc);
            }
            _listener = listener;
            _boundPort = listener.LocalEndPoint.Port;
            _bindDelay = _options.BindRetryDelay;
            _bindFailures = 0;
            Log.Listening(Logger, Name, listener.LocalEndPoint);
            RaiseListening(new ListeningEvent(Name, DateTimeOffset.UtcNow, listener.LocalEndPoint));
            _listening.TrySetResult(listener.LocalEndPoint);
        }
        catch (Exception ex) when (ex is SocketException or IOException)
        {
            var reason = ex is SocketException se ? $"{se.SocketErrorCode}: {se.Message}" : ex.Message;
            if (_options.BindAttempts > 0 && ++_bindFailures >= _options.BindAttempts && !_listening.Task.IsCompleted)
            {
                var message = $"cannot listen on {address}: {reason} (gave up after {_bindFailures} bind attempt{(_bindFailures == 1 ? "" : "s")})";
                RaiseError(StageErrorKind.Bind, message);
                _listening.TrySetException(new IOException($"stage '{Name}' {message}", ex));
                _ = StopAsync(CancellationToken.None);
                return;
            }
            RaiseError(StageErrorKind.Bind, $"cannot listen on {address}: {reason}; retrying in {_bindDelay.TotalMilliseconds:0} ms");
            _nextBindMs = NowMs + (long)_bindDelay.TotalMilliseconds;
            _bindDelay = TimeSpan.FromTicks(Math.Min(_bindDelay.Ticks * 2, _options.BindRetryMaxDelay.Ticks));
        }
    }

    protected override void OnSpecialEvent(long token, uint events)
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
                var errno = Libc.LastError;
                switch (errno)
                {
                    case Libc.EAGAIN:
                        return;
                    case Libc.EINTR or Libc.ECONNABORTED or Libc.EPROTO or Libc.EPERM
                        or Libc.ENETDOWN or Libc.ENONET or Libc.EHOSTDOWN or Libc.EHOSTUNREACH or Libc.ENETUNREACH or Libc.EOPNOTSUPP:
                        continue; // that one client is gone; the listener is fine
                    case Libc.EMFILE or Libc.ENFILE or Libc.ENOBUFS or Libc.ENOMEM:
                        // Out of descriptors or memory: pause accepting instead of spinning on a
                        // level-triggered listener that stays readable.
                        RaiseError(StageErrorKind.Accept, $"accept failed: {Libc.Describe(errno)}; pausing accepts for 100 ms");
                        Reactor.Modify(listener.Fd, 0, ListenerToken);
                        _acceptResumeMs = NowMs + 100;
                        return;
                    default:
                        RebuildListener($"accept failed: {Libc.Describe(errno)}");
                        return;
                }
            }
            var peer = SockAddr.Read(addr, length) ?? new IPEndPoint(IPAddress.None, 0);
            if (IsStopping)
            {
                Libc.close(fd);
                continue;
            }
            if (_options.MaxConnections > 0 && ConnectionCount >= _options.MaxConnections)
            {
                Transport.SocketConfigurator.SetAbortiveClose(fd);
                Libc.close(fd);
                ReportRejected(peer, $"max_connections {_options.MaxConnections} reached");
                continue;
            }
            var rc = SocketConfigurator.Apply(fd, _options.Socket);
            if (rc != 0)
                RaiseError(StageErrorKind.Setup, $"socket options for {peer}: {Libc.Describe(rc)}");
            AddConnection(fd, peer, LocalOf(fd, listener));
        }
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
        RaiseError(StageErrorKind.Accept, $"{why}; rebuilding the listener, connections stay open");
        CloseListener();
        _nextBindMs = NowMs;
    }

    private void CloseListener()
    {
        if (_listener is null)
            return;
        Reactor.Remove(_listener.Fd);
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

    protected override void OnStopAccepting() => CloseListener();

    protected override void OnStopped()
    {
        CloseListener();
        _listening.TrySetCanceled();
    }
}
