using System.Runtime.InteropServices;
using Ferry.Transport.Interop;

namespace Ferry.Transport;

/// <summary>
/// One epoll instance and the eventfd that wakes it: the readiness core of a stage's service loop.
/// Level-triggered, so a connection with more data than one read takes is simply reported again
/// in the next round, after every other ready connection had its turn.
/// </summary>
internal sealed unsafe class Reactor : IDisposable
{
    /// <summary>The epoll data value of the wake-up eventfd.</summary>
    public const long WakeToken = -1;

    private readonly int _epoll;
    private readonly int _wakeFd;
    private int _wakePending;

    public Reactor(int eventCapacity = 256)
    {
        if (!OperatingSystem.IsLinux())
            throw new PlatformNotSupportedException("Ferry's socket transport uses epoll and runs on Linux");
        _epoll = Libc.epoll_create1(Libc.EPOLL_CLOEXEC);
        if (_epoll < 0)
            throw new IOException($"epoll_create1 failed: {Libc.Describe(Libc.LastError)}");
        _wakeFd = Libc.eventfd(0, Libc.EFD_NONBLOCK | Libc.EFD_CLOEXEC);
        if (_wakeFd < 0)
        {
            Libc.close(_epoll);
            throw new IOException($"eventfd failed: {Libc.Describe(Libc.LastError)}");
        }
        Events = new EpollEvents(eventCapacity);
        Add(_wakeFd, Libc.EPOLLIN, WakeToken);
    }

    public EpollEvents Events { get; }

    public int Add(int fd, uint events, long token) => Control(Libc.EPOLL_CTL_ADD, fd, events, token);

    public int Modify(int fd, uint events, long token) => Control(Libc.EPOLL_CTL_MOD, fd, events, token);

    public int Remove(int fd) => Control(Libc.EPOLL_CTL_DEL, fd, 0, 0);

    private int Control(int op, int fd, uint events, long token)
    {
        var ev = stackalloc byte[16];
        EpollEvents.Write(ev, events, token);
        return Libc.epoll_ctl(_epoll, op, fd, ev) == 0 ? 0 : Libc.LastError;
    }

    /// <summary>Waits up to <paramref name="timeoutMs"/> for readiness; returns the number of events.</summary>
    public int Wait(int timeoutMs)
    {
        // A wake that arrives while the loop is busy is seen in this round anyway; skip the sleep.
        var n = Libc.epoll_wait(_epoll, Events.Buffer, Events.Capacity, timeoutMs);
        if (n < 0)
        {
            var errno = Libc.LastError;
            if (errno == Libc.EINTR)
                return 0;
            throw new IOException($"epoll_wait failed: {Libc.Describe(errno)}");
        }
        return n;
    }

    /// <summary>Wakes the loop from another thread. Coalesced: many calls before the loop runs cost one write.</summary>
    public void Wake()
    {
        if (Interlocked.Exchange(ref _wakePending, 1) != 0)
            return;
        long one = 1;
        Libc.write(_wakeFd, (byte*)&one, 8);
    }

    /// <summary>Called by the loop when the wake token fires: clears the eventfd and re-arms <see cref="Wake"/>.</summary>
    public void ConsumeWake()
    {
        long value;
        Libc.read(_wakeFd, (byte*)&value, 8);
        Volatile.Write(ref _wakePending, 0);
    }

    public void Dispose()
    {
        Libc.close(_wakeFd);
        Libc.close(_epoll);
        Events.Dispose();
    }
}
