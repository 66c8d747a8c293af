using System.Net;
using System.Net.Sockets;
using Ferry.Transport.Interop;

namespace Ferry.Transport.Epoll;

/// <summary>A non-blocking <c>connect</c> whose outcome the reactor reports as writability.</summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
internal sealed unsafe class EpollDial(Reactor reactor, long token, CloseLinger linger) : IDialAttempt
{
    private SocketHandle? _handle;
    private bool _watched;
    private IPEndPoint? _target;

    public string? Start(IPEndPoint target, BindAddress? local, TcpSocketOptions options, out bool connected, out string? setupProblem)
    {
        connected = false;
        setupProblem = null;
        _target = target;
        var family = target.AddressFamily == AddressFamily.InterNetworkV6 ? Libc.AF_INET6 : Libc.AF_INET;
        var fd = Libc.socket(family, Libc.SOCK_STREAM | Libc.SOCK_NONBLOCK | Libc.SOCK_CLOEXEC, 0);
        if (fd < 0)
            return $"socket() failed: {Libc.Describe(Libc.LastError)}";
        _handle = new SocketHandle(fd);
        var rc = SocketConfigurator.Apply(fd, options);
        if (rc != 0)
            setupProblem = $"socket options: {Libc.Describe(rc)}";
        var addr = stackalloc byte[SockAddr.StorageSize];
        if (local is not null)
        {
            SocketConfigurator.SetInt(fd, Libc.SOL_SOCKET, Libc.SO_REUSEADDR, 1);
            var localLength = SockAddr.Write(new IPEndPoint(local.IsAnyHost ? IPAddress.Any : IPAddress.Parse(local.Host), local.Port), addr);
            if (Libc.bind(fd, addr, localLength) != 0)
                return $"cannot bind local address {local}: {Libc.Describe(Libc.LastError)}";
        }
        var length = SockAddr.Write(target, addr);
        if (Libc.connect(fd, addr, length) == 0)
        {
            connected = true;
            return null;
        }
        var errno = Libc.LastError;
        if (errno != Libc.EINPROGRESS)
            return $"connect to {target} failed: {Libc.Describe(errno)}";
        // Without the watch, the connect's outcome would never be seen: fail the attempt, not hang in it.
        rc = reactor.Watch(_handle, ReadyFlags.Writable, token);
        if (rc != 0)
            return $"could not watch the connect to {target}: {Libc.Describe(rc)}";
        _watched = true;
        return null;
    }

    public string? Outcome()
    {
        var error = SocketConfigurator.GetInt(_handle!.Fd, Libc.SOL_SOCKET, Libc.SO_ERROR);
        return error == 0 ? null : $"connect to {_target} failed: {Libc.Describe(error)}";
    }

    public IConnectionIo TakeConnection(out IPEndPoint? local)
    {
        var handle = _handle!;
        Unwatch();
        _handle = null;
        var addr = stackalloc byte[SockAddr.StorageSize];
        var length = SockAddr.StorageSize;
        local = Libc.getsockname(handle.Fd, addr, &length) == 0 ? SockAddr.Read(addr, length) : null;
        return new SocketIo(handle, linger);
    }

    private void Unwatch()
    {
        if (_watched)
            reactor.Unwatch(_handle!);
        _watched = false;
    }

    public void Dispose()
    {
        if (_handle is null)
            return;
        Unwatch();
        _handle.Dispose();
        _handle = null;
    }
}
