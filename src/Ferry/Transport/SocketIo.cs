using Ferry.Transport.Interop;

namespace Ferry.Transport;

/// <summary>A connected non-blocking socket on the epoll transport: <c>recv</c>/<c>send</c> straight on the descriptor.</summary>
internal sealed unsafe class SocketIo(SocketHandle handle) : IConnectionIo
{
    /// <summary>The descriptor the reactor watches.</summary>
    public SocketHandle Handle { get; } = handle;

    public bool HasHandshake => false;

    public bool TryCompleteHandshake(out Stages.TlsConnectionInfo? info)
    {
        info = null;
        return false;
    }

    public int Receive(Span<byte> buffer, out int error)
    {
        nint n;
        fixed (byte* p = buffer)
            n = Libc.recv(Handle.Fd, p, buffer.Length, 0);
        if (n >= 0)
        {
            error = 0;
            return (int)n;
        }
        error = Libc.LastError;
        if (error is Libc.EAGAIN or Libc.EINTR)
            error = 0;
        return -1;
    }

    public int Send(ReadOnlySpan<byte> data, out int error)
    {
        while (true)
        {
            nint n;
            fixed (byte* p = data)
                n = Libc.send(Handle.Fd, p, data.Length, Libc.MSG_NOSIGNAL | Libc.MSG_DONTWAIT);
            if (n >= 0)
            {
                error = 0;
                return (int)n;
            }
            error = Libc.LastError;
            if (error == Libc.EINTR)
                continue;
            if (error == Libc.EAGAIN)
            {
                error = 0;
                return 0;
            }
            return -1;
        }
    }

    public bool WaitWritable(int timeoutMs) => Libc.WaitWritable(Handle.Fd, timeoutMs);

    public void SetAbortiveClose() => SocketConfigurator.SetAbortiveClose(Handle.Fd);

    public string DescribeError(int error) => Libc.Describe(error);

    public void Dispose() => Handle.Dispose();
}
