using System.Runtime.InteropServices;
using Ferry.Transport.Interop;

namespace Ferry.Transport;

/// <summary>
/// One epoll instance and the eventfd that wakes it: the readiness core of a stage's service loop on
/// Linux. Level-triggered, so a connection with more data than one read takes is simply reported
/// again in the next round, after every other ready connection had its turn.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
internal sealed unsafe class Reactor : IReadiness
{
    /// <summary>The epoll data value of the wake-up eventfd.</summary>
    public const long WakeToken = IReadiness.WakeToken;

    private readonly SocketHandle _epoll;
    private readonly SocketHandle _wake;
    private readonly EpollEvents _events;
    private int _wakePending;

    /// <summary>Tokens to report readable in the next round without the kernel (<see cref="ReportAgain"/>); rare.</summary>
    private readonly List<long> _again = [];
    private readonly List<long> _againNow = [];
    private int _kernelEvents;

    public Reactor(int eventCapacity = 256)
    {
        if (!OperatingSystem.IsLinux())
            throw new PlatformNotSupportedException("Ferry's epoll transport runs on Linux");
        var epoll = Libc.epoll_create1(Libc.EPOLL_CLOEXEC);
        if (epoll < 0)
            throw new IOException($"epoll_create1 failed: {Libc.Describe(Libc.LastError)}");
        _epoll = new SocketHandle(epoll);
        var wake = Libc.eventfd(0, Libc.EFD_NONBLOCK | Libc.EFD_CLOEXEC);
        if (wake < 0)
        {
            _epoll.Dispose();
            throw new IOException($"eventfd failed: {Libc.Describe(Libc.LastError)}");
        }
        _wake = new SocketHandle(wake);
        _events = new EpollEvents(eventCapacity);
        var rc = Control(Libc.EPOLL_CTL_ADD, wake, Libc.EPOLLIN, WakeToken);
        if (rc != 0)
        {
            Dispose();
            throw new IOException($"epoll_ctl for the wake-up eventfd failed: {Libc.Describe(rc)}");
        }
    }

    /// <summary>Test hook: runs inside <see cref="Wake"/> between its checks and its write.</summary>
    internal Action? BeforeWakeWriteForTest { get; set; }

    /// <summary>Test hook: the errno the next <see cref="Watch(SafeHandle, ReadyFlags, long)"/> fails with (0 = none).</summary>
    internal int FailNextWatchForTest { get; set; }

    // Connections of the epoll transport are SocketIo (plain) or TlsSocketIo (which holds back write
    // interest during its handshake); the type check is once per registration change, never per message.
    public int Watch(IConnectionIo io, ReadyFlags interest, long token)
        => io is SocketIo plain ? Watch(plain.Handle, interest, token) : ((Epoll.TlsSocketIo)io).Watch(this, interest, token);

    public int Change(IConnectionIo io, ReadyFlags interest, long token)
        => io is SocketIo plain ? Change(plain.Handle, interest, token) : ((Epoll.TlsSocketIo)io).Change(interest);

    public void Unwatch(IConnectionIo io) => Unwatch(io is SocketIo plain ? plain.Handle : ((Epoll.TlsSocketIo)io).Handle);

    /// <summary>
    /// Service thread only: reports <paramref name="token"/> readable in the next round even if its socket
    /// is not (a TLS connection holds bytes it already received: decrypted, or more than a read took).
    /// </summary>
    public void ReportAgain(long token) => _again.Add(token);

    /// <summary>Starts watching a descriptor (a connection, the listener, a dial); returns 0 or an errno.</summary>
    public int Watch(SafeHandle handle, ReadyFlags interest, long token)
    {
        if (FailNextWatchForTest is var injected and not 0)
        {
            FailNextWatchForTest = 0;
            return injected;
        }
        return Control(Libc.EPOLL_CTL_ADD, (int)handle.DangerousGetHandle(), ToEpoll(interest), token);
    }

    /// <summary>Changes what a descriptor is watched for; returns 0 or an errno.</summary>
    public int Change(SafeHandle handle, ReadyFlags interest, long token) => Control(Libc.EPOLL_CTL_MOD, (int)handle.DangerousGetHandle(), ToEpoll(interest), token);

    /// <summary>Stops watching a descriptor (before it is closed).</summary>
    public void Unwatch(SafeHandle handle) => Control(Libc.EPOLL_CTL_DEL, (int)handle.DangerousGetHandle(), 0, 0);

    private static uint ToEpoll(ReadyFlags interest)
    {
        uint events = 0;
        if ((interest & ReadyFlags.Readable) != 0)
            events |= Libc.EPOLLIN | Libc.EPOLLRDHUP;
        if ((interest & ReadyFlags.Writable) != 0)
            events |= Libc.EPOLLOUT;
        return events;
    }

    private int Control(int op, int fd, uint events, long token)
    {
        var ev = stackalloc byte[16];
        EpollEvents.Write(ev, events, token);
        return Libc.epoll_ctl(_epoll.Fd, op, fd, ev) == 0 ? 0 : Libc.LastError;
    }

    /// <summary>Waits up to <paramref name="timeoutMs"/> for readiness; returns the number of events.</summary>
    public int Wait(int timeoutMs)
    {
        _againNow.Clear();
        if (_again.Count > 0)
        {
            // Bytes already received wait: do not sleep, and report them after what the kernel reports.
            _againNow.AddRange(_again);
            _again.Clear();
            timeoutMs = 0;
        }
        var n = Libc.epoll_wait(_epoll.Fd, _events.Buffer, _events.Capacity, timeoutMs);
        if (n < 0)
        {
            var errno = Libc.LastError;
            if (errno != Libc.EINTR)
                throw new IOException($"epoll_wait failed: {Libc.Describe(errno)}");
            n = 0;
        }
        _kernelEvents = n;
        return n + _againNow.Count;
    }

    public (long Token, ReadyFlags Flags) EventAt(int index)
    {
        if (index >= _kernelEvents)
            return (_againNow[index - _kernelEvents], ReadyFlags.Readable);
        var events = _events.EventsAt(index);
        var flags = ReadyFlags.None;
        if ((events & Libc.EPOLLIN) != 0)
            flags |= ReadyFlags.Readable;
        if ((events & Libc.EPOLLOUT) != 0)
            flags |= ReadyFlags.Writable;
        if ((events & (Libc.EPOLLERR | Libc.EPOLLHUP | Libc.EPOLLRDHUP)) != 0)
            flags |= ReadyFlags.Closed;
        return (_events.DataAt(index), flags);
    }

    /// <summary>Wakes the loop from another thread. Coalesced: many calls before the loop runs cost one write.</summary>
    public void Wake()
    {
        if (Interlocked.Exchange(ref _wakePending, 1) != 0)
            return;
        // A reference on the handle keeps the eventfd open until the write is done: a concurrent
        // Dispose can no longer close it (and let the number be reused) between a check and the write.
        var added = false;
        try
        {
            _wake.DangerousAddRef(ref added);
            BeforeWakeWriteForTest?.Invoke();
            long one = 1;
            Libc.write(_wake.Fd, (byte*)&one, 8);
        }
        catch (ObjectDisposedException)
        {
            // Stopped: nobody is waiting any more.
        }
        finally
        {
            if (added)
                _wake.DangerousRelease();
        }
    }

    /// <summary>Called by the loop when the wake token fires: clears the eventfd and re-arms <see cref="Wake"/>.</summary>
    public void ConsumeWake()
    {
        long value;
        Libc.read(_wake.Fd, (byte*)&value, 8);
        Volatile.Write(ref _wakePending, 0);
    }

    public void Dispose()
    {
        // A pending wake keeps later Wake calls away from the handle altogether.
        Interlocked.Exchange(ref _wakePending, 1);
        _wake.Dispose();
        _epoll.Dispose();
        _events.Dispose();
    }
}
