using System.Net;
using System.Net.Sockets;
using Ferry.Transport.Interop;

namespace Ferry.Transport;

/// <summary>
/// A bound, listening, non-blocking socket for the epoll transport, made with <c>socket</c>, <c>bind</c> and
/// <c>listen</c> directly; accepting goes through <c>accept4</c> on its descriptor in the service loop.
/// </summary>
/// <remarks>
/// Why not <see cref="Socket"/>: creating one starts the runtime's own socket engine (a <c>.NET Sockets</c> thread
/// with its epoll instance, and a spin until that thread runs), which the epoll transport never uses: it watches
/// its descriptors with its own reactor. Failures still surface as the <see cref="SocketException"/> (the same
/// <see cref="SocketException.SocketErrorCode"/> and message) a <see cref="Socket"/> would give.
/// </remarks>
internal sealed unsafe class ListenSocket : IDisposable
{
    private readonly SocketHandle _handle;

    private ListenSocket(SocketHandle handle, IPEndPoint local)
    {
        _handle = handle;
        LocalEndPoint = local;
    }

    [System.Runtime.Versioning.SupportedOSPlatform("linux")]
    public int Fd => _handle.Fd;

    /// <summary>The socket's handle, for readiness registration.</summary>
    [System.Runtime.Versioning.SupportedOSPlatform("linux")]
    public System.Runtime.InteropServices.SafeHandle Handle => _handle;

    public IPEndPoint LocalEndPoint { get; }

    /// <summary>Binds and listens; throws <see cref="SocketException"/> when the address cannot be had.</summary>
    [System.Runtime.Versioning.SupportedOSPlatform("linux")]
    public static ListenSocket Open(BindAddress address, int backlog, TcpSocketOptions options)
    {
        var endPoint = Resolve(address);
        var handle = Bind(address, endPoint, Libc.SOCK_NONBLOCK);
        try
        {
            var fd = handle.Fd;
            if (Libc.listen(fd, backlog) != 0)
                throw Failure(Libc.LastError);
            var addr = stackalloc byte[SockAddr.StorageSize];
            var length = SockAddr.StorageSize;
            if (Libc.getsockname(fd, addr, &length) != 0)
                throw Failure(Libc.LastError);
            var local = SockAddr.Read(addr, length) ?? endPoint;
            SocketConfigurator.Apply(fd, options);
            return new ListenSocket(handle, local);
        }
        catch
        {
            handle.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Binds <paramref name="address"/> without listening and lets it go at once: whether a listener could have it now (an
    /// address of this machine, a port nobody listens on, a port below 1024 with the right). For a check made before anything
    /// starts (<c>ferry run</c>), so that one stage's address that cannot be had stops the run before any other stage serves.
    /// Made as <see cref="Open"/> makes its socket (<see cref="Bind"/>), so it is refused for what the listener would be refused
    /// for; never listening, it takes no client's connect and leaves no TIME_WAIT.
    /// </summary>
    /// <exception cref="SocketException">The address cannot be had (or its name does not resolve), as <see cref="Open"/> throws it.</exception>
    /// <exception cref="IOException">A failure <see cref="SocketError"/> does not name.</exception>
    public static void Probe(BindAddress address)
    {
        var endPoint = Resolve(address);
        if (OperatingSystem.IsLinux())
        {
            Bind(address, endPoint, flags: 0).Dispose();
            return;
        }
        using var socket = new Socket(endPoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        if (endPoint.AddressFamily == AddressFamily.InterNetworkV6 && address.IsAnyHost)
            socket.DualMode = true;
        socket.Bind(endPoint);
    }

    /// <summary>A TCP socket (with <paramref name="flags"/> beside SOCK_CLOEXEC) bound to <paramref name="endPoint"/>, as a listener binds.</summary>
    [System.Runtime.Versioning.SupportedOSPlatform("linux")]
    private static SocketHandle Bind(BindAddress address, IPEndPoint endPoint, int flags)
    {
        var v6 = endPoint.AddressFamily == AddressFamily.InterNetworkV6;
        var fd = Libc.socket(v6 ? Libc.AF_INET6 : Libc.AF_INET, Libc.SOCK_STREAM | Libc.SOCK_CLOEXEC | flags, 0);
        if (fd < 0)
            throw Failure(Libc.LastError);
        var handle = new SocketHandle(fd);
        try
        {
            // Every interface means IPv4 too on an IPv6 socket (dual mode), whatever the system's default.
            if (v6 && address.IsAnyHost)
                Check(SocketConfigurator.SetInt(fd, Libc.IPPROTO_IPV6, Libc.IPV6_V6ONLY, 0));
            // SO_REUSEADDR lets a restarted server bind while old connections sit in TIME_WAIT; an active
            // listener on the same port still makes bind fail, which bind retry handles. Not SO_REUSEPORT
            // (what .NET's ReuseAddress sets on Unix): it would let a second server share the port silently.
            Check(SocketConfigurator.SetInt(fd, Libc.SOL_SOCKET, Libc.SO_REUSEADDR, 1));
            var addr = stackalloc byte[SockAddr.StorageSize];
            var length = SockAddr.Write(endPoint, addr);
            if (Libc.bind(fd, addr, length) != 0)
                throw Failure(Libc.LastError);
            return handle;
        }
        catch
        {
            handle.Dispose();
            throw;
        }
    }

    public static IPEndPoint Resolve(BindAddress address)
    {
        if (address.IsAnyHost)
            return new IPEndPoint(Socket.OSSupportsIPv6 ? IPAddress.IPv6Any : IPAddress.Any, address.Port);
        if (IPAddress.TryParse(address.Host, out var ip))
            return new IPEndPoint(ip, address.Port);
        var addresses = Dns.GetHostAddresses(address.Host);
        if (addresses.Length == 0)
            throw new SocketException((int)SocketError.HostNotFound);
        // Prefer IPv4 for names like localhost: it is what clients most often dial.
        foreach (var candidate in addresses)
            if (candidate.AddressFamily == AddressFamily.InterNetwork)
                return new IPEndPoint(candidate, address.Port);
        return new IPEndPoint(addresses[0], address.Port);
    }

    [System.Runtime.Versioning.SupportedOSPlatform("linux")]
    private static void Check(int errno)
    {
        if (errno != 0)
            throw Failure(errno);
    }

    /// <summary>
    /// A <c>socket</c>/<c>bind</c>/<c>listen</c> error as the <see cref="SocketException"/> a <see cref="Socket"/> throws
    /// for it; one this table does not name as an <see cref="IOException"/> that does (errno and text), never a vague "SocketError".
    /// </summary>
    [System.Runtime.Versioning.SupportedOSPlatform("linux")]
    internal static Exception Failure(int errno)
        => ToSocketError(errno) is { } known ? new SocketException((int)known) : new IOException(Libc.Describe(errno));

    /// <summary>The errors of creating, binding and listening, as <see cref="SocketError"/> names them (the runtime's own table, for these); null for others.</summary>
    internal static SocketError? ToSocketError(int errno) => errno switch
    {
        98 => SocketError.AddressAlreadyInUse,          // EADDRINUSE
        99 => SocketError.AddressNotAvailable,          // EADDRNOTAVAIL
        13 or 1 => SocketError.AccessDenied,            // EACCES, EPERM (a port below 1024 without the capability)
        97 => SocketError.AddressFamilyNotSupported,    // EAFNOSUPPORT (IPv6 turned off)
        93 => SocketError.ProtocolNotSupported,         // EPROTONOSUPPORT
        22 => SocketError.InvalidArgument,              // EINVAL
        24 or 23 => SocketError.TooManyOpenSockets,     // EMFILE, ENFILE
        105 or 12 => SocketError.NoBufferSpaceAvailable, // ENOBUFS, ENOMEM
        19 => SocketError.NetworkDown,                  // ENODEV
        _ => null,
    };

    public void Dispose() => _handle.Dispose();
}
