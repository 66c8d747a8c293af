using System.Net.Sockets;

namespace Ferry.Transport.Streams;

/// <summary>Applies <see cref="TcpSocketOptions"/> through <see cref="Socket"/>, on any system.</summary>
internal static class PortableSocketOptions
{
    /// <summary>Applies the options; null, or what could not be applied.</summary>
    public static string? Apply(Socket socket, TcpSocketOptions options)
    {
        try
        {
            socket.NoDelay = options.NoDelay;
            if (options.KeepAlive)
            {
                socket.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.KeepAlive, true);
                socket.SetSocketOption(SocketOptionLevel.Tcp, SocketOptionName.TcpKeepAliveTime, (int)options.KeepAliveIdle.TotalSeconds);
            }
            if (options.ReceiveBufferSize > 0)
                socket.ReceiveBufferSize = options.ReceiveBufferSize;
            if (options.SendBufferSize > 0)
                socket.SendBufferSize = options.SendBufferSize;
            return null;
        }
        catch (SocketException ex)
        {
            return StreamErrors.Describe(ex);
        }
    }
}
