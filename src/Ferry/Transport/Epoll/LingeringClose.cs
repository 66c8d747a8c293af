using Ferry.Transport.Interop;

namespace Ferry.Transport.Epoll;

/// <summary>
/// The end of a graceful close on the epoll transport, off the service thread. A <c>close()</c> of a socket whose receive
/// queue still holds bytes the stage never read makes the kernel send a reset, and a reset makes the peer's kernel drop
/// what it had received and its application not yet read: a client that kept sending and reads its answers late lost
/// the last answers (ECONNRESET instead of them and EOF). So a graceful close sends what the connection still owes (TLS
/// ciphertext the socket did not take: the last records, the close_notify), shuts writing down (the FIN goes out behind
/// them), and reads and discards whatever the peer still sends until its EOF, and only then closes. What cannot finish at
/// once (the peer has not closed yet, or the socket is full) is finished by one background thread polling the sockets
/// left, each for at most the stage's <c>close_linger</c> (<see cref="CloseLinger"/>, on the stage's clock): a peer that never
/// closes nor reads costs its descriptor that long, never the service loop; and at most as many sockets linger as the
/// stage's <see cref="CloseLinger.Cap"/>, the oldest reset beyond it.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
internal static unsafe class LingeringClose
{
    /// <summary>How often the thread looks again (new sockets, the deadlines on a fake clock, resets): a poll's timeout.</summary>
    private const int PollMs = 20;

    /// <summary>At most this much is read and discarded per socket at a time, so a peer flooding it cannot hold the thread.</summary>
    private const int DrainBytes = 64 * 1024;

    private const short POLLIN = 0x001, POLLOUT = 0x004, POLLERR = 0x008, POLLHUP = 0x010;

    private static readonly Lock Sync = new();
    private static readonly List<Entry> Entries = [];
    private static bool s_running;

    /// <summary>One lingering socket; only the lingering thread touches its descriptor once it is entered.</summary>
    private sealed class Entry(SocketHandle handle, byte[]? owed, CloseLinger linger) : ILingeringSocket
    {
        public SocketHandle Handle { get; } = handle;
        public byte[]? Owed = owed;
        public int Sent;
        public CloseLinger Linger { get; } = linger;
        public long Deadline { get; } = linger.DeadlineFromNow();
        public LinkedListNode<ILingeringSocket>? Place;
        /// <summary>Set by <see cref="Reset"/> (another thread): the lingering thread closes it with a reset on its next look.</summary>
        public volatile bool ResetAsked;

        public void Reset() => ResetAsked = true;
    }

    /// <summary>The sockets still finishing their close, every stage's (tests).</summary>
    public static int Pending
    {
        get
        {
            lock (Sync)
                return Entries.Count;
        }
    }

    /// <summary>
    /// Closes <paramref name="handle"/> gracefully: <paramref name="owed"/> first, then the FIN, then the peer's bytes are
    /// discarded until its EOF, within <paramref name="linger"/>'s limit on its clock. Never blocks: what cannot be done now
    /// is left to the background thread. With a zero limit what can be sent now is, and the socket is closed at once (a
    /// reset if the peer's bytes arrive unread). The caller no longer uses the descriptor.
    /// </summary>
    public static void Finish(SocketHandle handle, ReadOnlySpan<byte> owed, CloseLinger linger)
    {
        var fd = handle.Fd;
        var sent = Send(fd, owed);
        if (sent < 0)
        {
            handle.Dispose(); // the peer is gone: nothing to owe it
            return;
        }
        byte[]? rest = null;
        if (sent < owed.Length)
        {
            if (linger.Limit == TimeSpan.Zero)
            {
                handle.Dispose(); // no waiting: the rest is lost with the close
                return;
            }
            rest = owed[sent..].ToArray();
        }
        else if (ShutWriteAndDrain(fd) || linger.Limit == TimeSpan.Zero)
        {
            handle.Dispose(); // the peer had closed already (the common case after its FIN), or no waiting
            return;
        }
        var entry = new Entry(handle, rest, linger);
        lock (Sync)
        {
            // Counted under the list's lock: a reset asked for now is seen by the thread's next look at the list.
            entry.Place = linger.Enter(entry);
            Entries.Add(entry);
            if (s_running)
                return;
            s_running = true;
        }
        new Thread(Run) { IsBackground = true, Name = "ferry linger" }.Start();
    }

    /// <summary>Sends what it can of <paramref name="data"/> now: the bytes taken, or -1 when the socket failed.</summary>
    private static int Send(int fd, ReadOnlySpan<byte> data)
    {
        var sent = 0;
        while (sent < data.Length)
        {
            nint n;
            fixed (byte* p = data)
                n = Libc.send(fd, p + sent, data.Length - sent, Libc.MSG_NOSIGNAL | Libc.MSG_DONTWAIT);
            if (n >= 0)
            {
                sent += (int)n;
                continue;
            }
            var errno = Libc.LastError;
            if (errno == Libc.EINTR)
                continue;
            return errno == Libc.EAGAIN ? sent : -1;
        }
        return sent;
    }

    /// <summary>Shuts writing down and discards what the peer sent; true when the peer's end (or an error) was reached.</summary>
    private static bool ShutWriteAndDrain(int fd)
    {
        Libc.shutdown(fd, Libc.SHUT_WR);
        return Drain(fd);
    }

    /// <summary>Reads and discards what is there now; true at the peer's end or an error (the socket can be closed).</summary>
    private static bool Drain(int fd)
    {
        var scratch = stackalloc byte[4096];
        for (var total = 0; total < DrainBytes;)
        {
            var n = Libc.recv(fd, scratch, 4096, Libc.MSG_DONTWAIT);
            if (n > 0)
            {
                total += (int)n;
                continue;
            }
            if (n == 0)
                return true;
            var errno = Libc.LastError;
            if (errno == Libc.EINTR)
                continue;
            return errno != Libc.EAGAIN;
        }
        return false;
    }

    private static void Run()
    {
        var fds = Array.Empty<byte>();
        var entries = new List<Entry>();
        while (true)
        {
            lock (Sync)
            {
                if (Entries.Count == 0)
                {
                    s_running = false;
                    return;
                }
                entries.Clear();
                entries.AddRange(Entries);
            }
            if (fds.Length < entries.Count * 8)
                fds = GC.AllocateArray<byte>(entries.Count * 16, pinned: true);
            fixed (byte* p = fds)
            {
                for (var i = 0; i < entries.Count; i++)
                {
                    *(int*)(p + i * 8) = entries[i].Handle.Fd;
                    *(short*)(p + i * 8 + 4) = (short)(POLLIN | (entries[i].Owed is null ? 0 : POLLOUT));
                    *(short*)(p + i * 8 + 6) = 0;
                }
                Libc.poll(p, (nuint)entries.Count, PollMs);
                for (var i = 0; i < entries.Count; i++)
                {
                    var entry = entries[i];
                    var reset = entry.ResetAsked;
                    if (reset || Step(entry, *(short*)(p + i * 8 + 6)))
                    {
                        if (reset)
                            SocketConfigurator.SetAbortiveClose(entry.Handle.Fd);
                        entry.Handle.Dispose();
                        entry.Linger.Leave(entry.Place!);
                        lock (Sync)
                            Entries.Remove(entry);
                    }
                }
            }
        }
    }

    /// <summary>One look at a lingering socket; true when it is done (closed next).</summary>
    private static bool Step(Entry entry, short events)
    {
        var fd = entry.Handle.Fd;
        if (entry.Owed is { } owed && (events & (POLLOUT | POLLERR | POLLHUP)) != 0)
        {
            var sent = Send(fd, owed.AsSpan(entry.Sent));
            if (sent < 0)
                return true;
            entry.Sent += sent;
            if (entry.Sent == owed.Length)
            {
                entry.Owed = null;
                if (ShutWriteAndDrain(fd))
                    return true;
            }
        }
        else if (entry.Owed is null && (events & (POLLIN | POLLERR | POLLHUP)) != 0 && Drain(fd))
            return true;
        // The stage's clock: a peer that neither reads nor closes is closed on anyway (a reset if it still sends).
        return entry.Linger.Time.GetTimestamp() >= entry.Deadline;
    }
}
