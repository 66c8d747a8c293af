using System.Runtime.InteropServices;

namespace Ferry.Transport.Interop;

/// <summary>
/// The few Linux system calls the epoll transport needs. Ferry talks to the kernel directly on its
/// hot path (one recv and one send per ready socket, no per-operation objects) because that is what
/// lets one pinned service thread keep up with a C epoll server.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
internal static unsafe partial class Libc
{
    private const string Lib = "libc";

    public const int EPOLL_CLOEXEC = 0x80000;
    public const int EPOLL_CTL_ADD = 1;
    public const int EPOLL_CTL_DEL = 2;
    public const int EPOLL_CTL_MOD = 3;
    public const uint EPOLLIN = 0x001;
    public const uint EPOLLOUT = 0x004;
    public const uint EPOLLERR = 0x008;
    public const uint EPOLLHUP = 0x010;
    public const uint EPOLLRDHUP = 0x2000;

    public const int SOCK_NONBLOCK = 0x800;
    public const int SOCK_CLOEXEC = 0x80000;
    public const int SOCK_STREAM = 1;
    public const int AF_INET = 2;
    public const int AF_INET6 = 10;
    public const int EFD_NONBLOCK = 0x800;
    public const int EFD_CLOEXEC = 0x80000;
    public const int MSG_NOSIGNAL = 0x4000;
    public const int MSG_DONTWAIT = 0x40;
    public const int MSG_PEEK = 0x2;
    public const int SHUT_WR = 1;

    public const int SOL_SOCKET = 1;
    public const int SO_REUSEADDR = 2;
    public const int SO_ERROR = 4;
    public const int SO_SNDBUF = 7;
    public const int SO_RCVBUF = 8;
    public const int SO_KEEPALIVE = 9;
    public const int SO_LINGER = 13;
    public const int IPPROTO_TCP = 6;
    public const int IPPROTO_IPV6 = 41;
    public const int IPV6_V6ONLY = 26;
    public const int TCP_NODELAY = 1;
    public const int TCP_KEEPIDLE = 4;
    public const int TCP_KEEPINTVL = 5;
    public const int TCP_KEEPCNT = 6;
    public const int PRIO_PROCESS = 0;

    public const int EINTR = 4;
    public const int EAGAIN = 11;
    public const int ENOMEM = 12;
    public const int EPIPE = 32;
    public const int ENFILE = 23;
    public const int EMFILE = 24;
    public const int ECONNABORTED = 103;
    public const int ECONNRESET = 104;
    public const int ENOBUFS = 105;
    public const int ETIMEDOUT = 110;
    public const int ECONNREFUSED = 111;
    public const int EINPROGRESS = 115;
    public const int EPROTO = 71;
    public const int EPERM = 1;
    public const int ENETDOWN = 100;
    public const int ENETUNREACH = 101;
    public const int EHOSTUNREACH = 113;
    public const int EHOSTDOWN = 112;
    public const int ENONET = 64;
    public const int EOPNOTSUPP = 95;

    [LibraryImport(Lib, SetLastError = true)]
    public static partial int epoll_create1(int flags);

    [LibraryImport(Lib, SetLastError = true)]
    public static partial int epoll_ctl(int epfd, int op, int fd, byte* ev);

    [LibraryImport(Lib, SetLastError = true)]
    public static partial int epoll_wait(int epfd, byte* events, int maxevents, int timeout);

    [LibraryImport(Lib, SetLastError = true)]
    public static partial int accept4(int fd, byte* addr, int* addrlen, int flags);

    [LibraryImport(Lib, SetLastError = true)]
    public static partial nint recv(int fd, byte* buf, nint len, int flags);

    [LibraryImport(Lib, SetLastError = true)]
    public static partial nint send(int fd, byte* buf, nint len, int flags);

    [LibraryImport(Lib, SetLastError = true)]
    public static partial int close(int fd);

    [LibraryImport(Lib, SetLastError = true)]
    public static partial int shutdown(int fd, int how);

    [LibraryImport(Lib, SetLastError = true)]
    public static partial int eventfd(uint initval, int flags);

    [LibraryImport(Lib, SetLastError = true)]
    public static partial nint read(int fd, byte* buf, nint count);

    [LibraryImport(Lib, SetLastError = true)]
    public static partial nint write(int fd, byte* buf, nint count);

    [LibraryImport(Lib, SetLastError = true)]
    public static partial int setsockopt(int fd, int level, int optname, void* optval, int optlen);

    [LibraryImport(Lib, SetLastError = true)]
    public static partial int getsockopt(int fd, int level, int optname, void* optval, int* optlen);

    [LibraryImport(Lib, SetLastError = true)]
    public static partial int getsockname(int fd, byte* addr, int* addrlen);

    [LibraryImport(Lib, SetLastError = true)]
    public static partial int socket(int domain, int type, int protocol);

    [LibraryImport(Lib, SetLastError = true)]
    public static partial int connect(int fd, byte* addr, int addrlen);

    [LibraryImport(Lib, SetLastError = true)]
    public static partial int bind(int fd, byte* addr, int addrlen);

    [LibraryImport(Lib, SetLastError = true)]
    public static partial int listen(int fd, int backlog);

    [LibraryImport(Lib, SetLastError = true)]
    public static partial int gettid();

    public const int RLIMIT_NOFILE = 7;

    /// <summary><c>struct rlimit</c> is two <c>rlim_t</c> (unsigned long) values: soft, then hard.</summary>
    [LibraryImport(Lib, SetLastError = true)]
    public static partial int getrlimit(int resource, ulong* limits);

    /// <summary>The process's soft limit on open descriptors, or -1 when it cannot be read.</summary>
    public static long DescriptorLimit()
    {
        var limits = stackalloc ulong[2];
        if (getrlimit(RLIMIT_NOFILE, limits) != 0)
            return -1;
        return limits[0] > int.MaxValue ? int.MaxValue : (long)limits[0];
    }

    [LibraryImport(Lib, SetLastError = true)]
    public static partial int sched_setaffinity(int pid, nint cpusetsize, byte* mask);

    [LibraryImport(Lib, SetLastError = true)]
    public static partial int setpriority(int which, uint who, int prio);

    public const short POLLOUT = 0x004;

    [LibraryImport(Lib, SetLastError = true)]
    public static partial int poll(byte* fds, nuint nfds, int timeout);

    /// <summary>Waits until <paramref name="fd"/> is writable or the timeout passes; true when writable.</summary>
    public static bool WaitWritable(int fd, int timeoutMs) => PollOne(fd, POLLOUT, timeoutMs) > 0;

    /// <summary>What poll(2) reports of <paramref name="fd"/> now, asking for nothing (errors and hang-ups are always reported); 0 on a failed call.</summary>
    public static short PollEvents(int fd) => (short)Math.Max(PollOne(fd, 0, 0), 0);

    /// <summary>poll(2) of one descriptor for <paramref name="events"/>: its revents when reported, 0 on a timeout, -1 on a failed call.</summary>
    private static int PollOne(int fd, short events, int timeoutMs)
    {
        var pfd = stackalloc byte[8];
        *(int*)pfd = fd;
        *(short*)(pfd + 4) = events;
        *(short*)(pfd + 6) = 0;
        var rc = poll(pfd, 1, timeoutMs);
        return rc > 0 ? *(short*)(pfd + 6) : rc;
    }

    public static int LastError => Marshal.GetLastPInvokeError();

    public static string Describe(int errno) => $"{ErrnoName(errno)} ({Marshal.GetPInvokeErrorMessage(errno)})";

    private static string ErrnoName(int errno) => errno switch
    {
        EAGAIN => "EAGAIN",
        ECONNRESET => "ECONNRESET",
        EPIPE => "EPIPE",
        ETIMEDOUT => "ETIMEDOUT",
        ECONNREFUSED => "ECONNREFUSED",
        EMFILE => "EMFILE",
        ENFILE => "ENFILE",
        _ => "errno " + errno,
    };
}
