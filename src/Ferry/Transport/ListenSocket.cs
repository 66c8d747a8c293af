using System.Net;
using System.Net.Sockets;

namespace Ferry.Transport;

/// <summary>
/// A bound, listening, non-blocking socket. Creation and binding go through <see cref="Socket"/>
/// (address families, dual mode, clear exceptions); accepting goes through <c>accept4</c> on its
/// descriptor in the service loop.
/// </summary>
internal sealed class ListenSocket : IDisposable
{
    private readonly Socket _socket;

    private ListenSocket(Socket socket)
    {
        _socket = socket;
        Fd = (int)socket.Handle;
        LocalEndPoint = (IPEndPoint)socket.LocalEndPoint!;
    }

    public int Fd { get; }

    /// <summary>The socket's handle, for readiness registration.</summary>
    public System.Runtime.InteropServices.SafeHandle Handle => _socket.SafeHandle;

    public IPEndPoint LocalEndPoint { get; }

    /// <summary>Binds and listens; throws <see cref="SocketException"/> when the address cannot be had.</summary>
    public static ListenSocket Open(BindAddress address, int backlog, TcpSocketOptions options)
    {
        var endPoint = Resolve(address);
        var socket = new Socket(endPoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            if (address.IsAnyHost && endPoint.AddressFamily == AddressFamily.InterNetworkV6)
                socket.DualMode = true;
            // SO_REUSEADDR lets a restarted server bind while old connections sit in TIME_WAIT; an
            // active listener on the same port still makes bind fail, which bind retry handles. Set
            // directly: .NET's ReuseAddress option on Unix adds SO_REUSEPORT, which would let a second
            // server share the port silently.
            SocketConfigurator.SetInt((int)socket.Handle, Interop.Libc.SOL_SOCKET, Interop.Libc.SO_REUSEADDR, 1);
            socket.Bind(endPoint);
            socket.Listen(backlog);
            socket.Blocking = false;
            var listener = new ListenSocket(socket);
            SocketConfigurator.Apply(listener.Fd, options);
            return listener;
        }
        catch
        {
            socket.Dispose();
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

    public void Dispose() => _socket.Dispose();
}
