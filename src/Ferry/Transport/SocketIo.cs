using Ferry.Transport.Interop;

namespace Ferry.Transport;

/// <summary>A connected non-blocking socket on the epoll transport: <c>recv</c>/<c>send</c> straight on the descriptor.</summary>
/// <param name="handle">The descriptor.</param>
/// <param name="linger">The stage's lingering closes: how long a graceful close may take, on the stage's clock, and how many at once.</param>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
internal sealed unsafe class SocketIo(SocketHandle handle, CloseLinger linger) : IConnectionIo
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
        fixed (byte* p = buffer)
            return Receive(Handle.Fd, p, buffer.Length, out error);
    }

    /// <summary>One <c>recv</c>: bytes read, 0 at the end, or -1 (<paramref name="error"/> 0 when nothing is there now).</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining)]
    public static int Receive(int fd, byte* into, int length, out int error)
    {
        var n = Libc.recv(fd, into, length, 0);
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

    private bool _abortive;

    public void SetAbortiveClose()
    {
        _abortive = true;
        SocketConfigurator.SetAbortiveClose(Handle.Fd);
    }

    public string DescribeError(int error) => Libc.Describe(error);

    /// <summary>
    /// The close: a reset when asked for (<see cref="SetAbortiveClose"/>), else graceful (<see cref="Epoll.LingeringClose"/>):
    /// the FIN, then the peer's unread bytes discarded until its EOF, so that they do not turn the close into a reset that
    /// loses the answers the peer has not read yet.
    /// </summary>
    public void Dispose()
    {
        // Once: a second close must not close a descriptor the lingering close still owns (or one reused since).
        if (_disposed)
            return;
        _disposed = true;
        if (_abortive)
            Handle.Dispose();
        else
            Epoll.LingeringClose.Finish(Handle, default, linger);
    }

    private bool _disposed;
}
