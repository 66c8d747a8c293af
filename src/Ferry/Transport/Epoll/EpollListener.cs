using System.Net;
using System.Net.Sockets;
using Ferry.Transport.Interop;

namespace Ferry.Transport.Epoll;

/// <summary>A <see cref="ListenSocket"/> watched by the reactor; accepts with <c>accept4</c> on the service thread.</summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
internal sealed unsafe class EpollListener : IListener
{
    private readonly Reactor _reactor;
    private readonly ListenSocket _socket;
    private readonly TcpSocketOptions _options;
    private readonly bool _anyHost;
    private readonly long _token;
    private readonly Tls.OpenSsl.OpenSslServerTls? _tls;
    private readonly CloseLinger _linger;
    private bool _paused;

    private EpollListener(Reactor reactor, ListenSocket socket, TcpSocketOptions options, bool anyHost, long token, CloseLinger linger, Tls.OpenSsl.OpenSslServerTls? tls)
    {
        _linger = linger;
        _tls = tls;
        _reactor = reactor;
        _socket = socket;
        _options = options;
        _anyHost = anyHost;
        _token = token;
    }

    public static EpollListener Open(Reactor reactor, BindAddress address, int backlog, TcpSocketOptions options, long token, CloseLinger linger, Tls.OpenSsl.OpenSslServerTls? tls = null)
    {
        var socket = ListenSocket.Open(address, backlog, options);
        var rc = reactor.Watch(socket.Handle, ReadyFlags.Readable, token);
        if (rc != 0)
        {
            socket.Dispose();
            throw new IOException($"cannot watch the listening socket: {Libc.Describe(rc)}"); // an errno, not a SocketError
        }
        return new EpollListener(reactor, socket, options, address.IsAnyHost, token, linger, tls);
    }

    public IPEndPoint LocalEndPoint => _socket.LocalEndPoint;

    public AcceptStatus TryAccept(out AcceptedConnection accepted, out string error)
    {
        accepted = default;
        var addr = stackalloc byte[SockAddr.StorageSize];
        var length = SockAddr.StorageSize;
        var fd = Libc.accept4(_socket.Fd, addr, &length, Libc.SOCK_NONBLOCK | Libc.SOCK_CLOEXEC);
        if (fd < 0)
        {
            var errno = Libc.LastError;
            error = DescriptorReserve.DescribeAcceptError(errno);
            return Classify(errno);
        }
        error = "";
        var handle = new SocketHandle(fd);
        var peer = SockAddr.Read(addr, length) ?? new IPEndPoint(IPAddress.None, 0);
        if (DescriptorReserve.Holds(fd))
        {
            accepted = new AcceptedConnection(new SocketIo(handle, _linger), peer, _socket.LocalEndPoint, null);
            error = DescriptorReserve.DescribeShed(fd);
            return AcceptStatus.AtReserve;
        }
        var rc = SocketConfigurator.Apply(fd, _options);
        IConnectionIo io = _tls is null ? new SocketIo(handle, _linger) : new TlsSocketIo(handle, _tls, peer, _linger);
        accepted = new AcceptedConnection(io, peer, LocalOf(fd), rc == 0 ? null : Libc.Describe(rc));
        return AcceptStatus.Accepted;
    }

    private static AcceptStatus Classify(int errno) => errno switch
    {
        Libc.EAGAIN => AcceptStatus.Empty,
        Libc.EINTR or Libc.ECONNABORTED or Libc.EPROTO or Libc.EPERM or Libc.ENETDOWN or Libc.ENONET or Libc.EHOSTDOWN
            or Libc.EHOSTUNREACH or Libc.ENETUNREACH or Libc.EOPNOTSUPP => AcceptStatus.Transient,
        // Out of descriptors or memory: the acceptor pauses instead of spinning on a level-triggered
        // listener that stays readable.
        Libc.EMFILE or Libc.ENFILE or Libc.ENOBUFS or Libc.ENOMEM => AcceptStatus.OutOfResources,
        _ => AcceptStatus.Broken,
    };

    private IPEndPoint LocalOf(int fd)
    {
        if (!_anyHost)
            return _socket.LocalEndPoint;
        var addr = stackalloc byte[SockAddr.StorageSize];
        var length = SockAddr.StorageSize;
        return Libc.getsockname(fd, addr, &length) == 0 ? SockAddr.Read(addr, length) ?? _socket.LocalEndPoint : _socket.LocalEndPoint;
    }

    public void Pause()
    {
        _paused = true;
        _reactor.Change(_socket.Handle, ReadyFlags.None, _token);
    }

    public void ReportReady(bool ready) => _reactor.Change(_socket.Handle, ready && !_paused ? ReadyFlags.Readable : ReadyFlags.None, _token);

    public void Resume()
    {
        // Called after every connection shed at the reserve too: no system call unless paused.
        if (!_paused)
            return;
        _paused = false;
        _reactor.Change(_socket.Handle, ReadyFlags.Readable, _token);
    }

    /// <summary>Shuts the listening socket down in the kernel: accept then fails with EINVAL.</summary>
    public void BreakForTest() => Libc.shutdown(_socket.Fd, 2);

    public void Dispose()
    {
        _reactor.Unwatch(_socket.Handle);
        _socket.Dispose();
    }
}
