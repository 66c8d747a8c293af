using Ferry.Transport.Interop;

namespace Ferry.Transport;

/// <summary>Applies <see cref="TcpSocketOptions"/> to a raw socket descriptor.</summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
internal static unsafe class SocketConfigurator
{
    /// <summary>Applies the options; returns 0 or the errno of the first option that failed.</summary>
    public static int Apply(int fd, TcpSocketOptions options)
    {
        int rc = SetInt(fd, Libc.IPPROTO_TCP, Libc.TCP_NODELAY, options.NoDelay ? 1 : 0);
        if (rc != 0) return rc;
        if (options.KeepAlive)
        {
            if ((rc = SetInt(fd, Libc.SOL_SOCKET, Libc.SO_KEEPALIVE, 1)) != 0) return rc;
            if ((rc = SetInt(fd, Libc.IPPROTO_TCP, Libc.TCP_KEEPIDLE, (int)options.KeepAliveIdle.TotalSeconds)) != 0) return rc;
        }
        if (options.ReceiveBufferSize > 0 && (rc = SetInt(fd, Libc.SOL_SOCKET, Libc.SO_RCVBUF, options.ReceiveBufferSize)) != 0) return rc;
        if (options.SendBufferSize > 0 && (rc = SetInt(fd, Libc.SOL_SOCKET, Libc.SO_SNDBUF, options.SendBufferSize)) != 0) return rc;
        return 0;
    }

    public static int SetInt(int fd, int level, int name, int value)
        => Libc.setsockopt(fd, level, name, &value, sizeof(int)) == 0 ? 0 : Libc.LastError;

    public static int GetInt(int fd, int level, int name)
    {
        int value = 0;
        int len = sizeof(int);
        return Libc.getsockopt(fd, level, name, &value, &len) == 0 ? value : -1;
    }

    /// <summary>Makes close() send RST instead of FIN, so a rejected client learns at once and no TIME_WAIT is left.</summary>
    public static void SetAbortiveClose(int fd)
    {
        var linger = stackalloc int[2] { 1, 0 };
        Libc.setsockopt(fd, Libc.SOL_SOCKET, Libc.SO_LINGER, linger, 8);
    }
}
