using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using Ferry.Transport.Interop;

namespace Ferry.Transport.Streams;

/// <summary>
/// A listening socket of the stream transport: an accept loop (<see cref="Socket.AcceptAsync(CancellationToken)"/>)
/// queues accepted sockets and posts the listener readable; the acceptor takes them on the service thread.
/// </summary>
internal sealed class StreamListener : PostedSource, IListener
{
    /// <summary>Accepted sockets waiting for the loop; the accept loop waits beyond this many.</summary>
    private const int QueueLimit = 64;

    private readonly Socket _socket;
    private readonly PostedReadiness _readiness;
    private readonly TcpSocketOptions _options;
    private readonly Func<Socket, IConnectionIo> _connect;
    private readonly ConcurrentQueue<Taken> _queue = new();
    private readonly SemaphoreSlim _slots = new(QueueLimit, QueueLimit);
    private TaskCompletionSource _resume = CompletedResume();
    /// <summary>Cancelled by <see cref="Dispose"/>: ends an accept loop parked on a full queue.</summary>
    private readonly CancellationTokenSource _closing = new();
    /// <summary>1 once disposed; set with a full fence (see <see cref="Dispose"/>).</summary>
    private int _disposed;

    private StreamListener(Socket socket, PostedReadiness readiness, TcpSocketOptions options, Func<Socket, IConnectionIo> connect)
    {
        _socket = socket;
        _readiness = readiness;
        _options = options;
        _connect = connect;
        LocalEndPoint = (IPEndPoint)socket.LocalEndPoint!;
    }

    public IPEndPoint LocalEndPoint { get; }

    /// <summary>Binds and listens; throws <see cref="SocketException"/> when the address cannot be had.</summary>
    public static StreamListener Open(PostedReadiness readiness, BindAddress address, int backlog, TcpSocketOptions options, long token, Func<Socket, IConnectionIo> connect)
    {
        var endPoint = ListenSocket.Resolve(address);
        var socket = new Socket(endPoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            if (address.IsAnyHost && endPoint.AddressFamily == AddressFamily.InterNetworkV6)
                socket.DualMode = true;
            // As the epoll listener: SO_REUSEADDR alone (TIME_WAIT), not .NET's ReuseAddress, which adds
            // SO_REUSEPORT on Unix and would let a second server share the port silently.
            if (OperatingSystem.IsLinux())
                SocketConfigurator.SetInt((int)socket.Handle, Libc.SOL_SOCKET, Libc.SO_REUSEADDR, 1);
            socket.Bind(endPoint);
            socket.Listen(backlog);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
        var listener = new StreamListener(socket, readiness, options, connect);
        readiness.Register(listener, ReadyFlags.Readable, token);
        listener.AcceptLoop = listener.AcceptLoopAsync();
        return listener;
    }

    public override ReadyFlags Poll() => _queue.IsEmpty ? ReadyFlags.None : ReadyFlags.Readable;

    private bool IsDisposed => Volatile.Read(ref _disposed) != 0;

    /// <summary>The accept loop, until the listener is disposed or broken (tests wait for its end).</summary>
    internal Task AcceptLoop { get; private set; } = Task.CompletedTask;

    /// <summary>Accepted sockets (or failures) waiting for the service thread.</summary>
    internal int Queued => _queue.Count;

    /// <summary>Runs after an accept completes and before its socket is queued (tests dispose the listener there).</summary>
    internal Action? AfterAcceptForTest { get; set; }

    private async Task AcceptLoopAsync()
    {
        while (!IsDisposed)
        {
            try
            {
                // A full queue parks the loop here; Dispose cancels the wait, so a stop never leaves it parked.
                await _slots.WaitAsync(_closing.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
            await Volatile.Read(ref _resume).Task.ConfigureAwait(false);
            if (IsDisposed)
                return;
            try
            {
                var socket = await _socket.AcceptAsync().ConfigureAwait(false);
                AfterAcceptForTest?.Invoke();
                var descriptor = (long)socket.Handle;
                if (DescriptorReserve.Holds(descriptor))
                {
                    // The last descriptors below the process limit are the runtime's (a file it must open, an
                    // assembly it loads, a thread's eventfd): stop taking more until the acceptor resumes us,
                    // and hand this one over to be shed with a reset.
                    HoldAccepts();
                    _queue.Enqueue(new Taken(socket, AcceptStatus.AtReserve, DescriptorReserve.DescribeShed(descriptor)));
                }
                else
                {
                    _queue.Enqueue(new Taken(socket, AcceptStatus.Accepted, ""));
                }
                // Dispose may have drained the queue between the accept and the enqueue: then nobody else
                // would ever take this socket, and the client would hold a connection nobody serves or closes.
                // (The enqueue and Dispose's flag are both full fences: one of the two drains sees it.)
                if (IsDisposed)
                {
                    DisposeQueued();
                    return;
                }
            }
            catch (ObjectDisposedException)
            {
                return;
            }
            catch (SocketException ex)
            {
                if (IsDisposed)
                    return;
                var status = Classify(ex.SocketErrorCode);
                if (status == AcceptStatus.OutOfResources)
                    HoldAccepts();
                // Described here, next to the failure: which descriptor limit it was is asked of the kernel now.
                var error = ex.SocketErrorCode == SocketError.TooManyOpenSockets ? DescriptorReserve.DescribeTooManyOpenFiles() : StreamErrors.Describe(ex);
                _queue.Enqueue(new Taken(null, status, error));
                if (status == AcceptStatus.Broken)
                {
                    Post();
                    return; // the acceptor rebuilds the listener
                }
            }
            Post();
        }
    }

    /// <summary>The accept loop waits before its next accept until <see cref="Resume"/>.</summary>
    private void HoldAccepts() => Volatile.Write(ref _resume, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously));

    public AcceptStatus TryAccept(out AcceptedConnection accepted, out string error)
    {
        accepted = default;
        error = "";
        if (!_queue.TryDequeue(out var item))
            return AcceptStatus.Empty;
        _slots.Release();
        if (item.Socket is not { } socket)
        {
            error = item.Error;
            return item.Status;
        }
        IPEndPoint peer, local;
        try
        {
            peer = (IPEndPoint)socket.RemoteEndPoint!;
            local = (IPEndPoint)socket.LocalEndPoint!;
        }
        catch (SocketException gone)
        {
            // Reset before it was taken: that one client is gone.
            socket.Dispose();
            error = item.Status == AcceptStatus.AtReserve ? item.Error : StreamErrors.Describe(gone);
            return item.Status == AcceptStatus.AtReserve ? AcceptStatus.OutOfResources : AcceptStatus.Transient;
        }
        if (item.Status == AcceptStatus.AtReserve)
        {
            // Shed: no options, no handshake; the acceptor resets it and pauses.
            accepted = new AcceptedConnection(_connect(socket), peer, local, null);
            error = item.Error;
            return AcceptStatus.AtReserve;
        }
        var problem = PortableSocketOptions.Apply(socket, _options);
        accepted = new AcceptedConnection(_connect(socket), peer, local, problem);
        return AcceptStatus.Accepted;
    }

    private static AcceptStatus Classify(SocketError error) => error switch
    {
        SocketError.ConnectionAborted or SocketError.ConnectionReset or SocketError.Interrupted or SocketError.NetworkDown
            or SocketError.NetworkUnreachable or SocketError.HostUnreachable or SocketError.HostDown or SocketError.AccessDenied
            or SocketError.OperationNotSupported or SocketError.ProtocolType => AcceptStatus.Transient,
        SocketError.TooManyOpenSockets or SocketError.NoBufferSpaceAvailable => AcceptStatus.OutOfResources,
        SocketError.WouldBlock => AcceptStatus.Empty,
        _ => AcceptStatus.Broken,
    };

    public void Pause() => _readiness.Change(this, ReadyFlags.None);

    public void ReportReady(bool ready) => _readiness.Change(this, ready ? ReadyFlags.Readable : ReadyFlags.None);

    public void Resume()
    {
        _readiness.Change(this, ReadyFlags.Readable);
        Volatile.Read(ref _resume).TrySetResult();
    }

    /// <summary>Shuts the listening socket down in the kernel: the pending accept then fails.</summary>
    public void BreakForTest()
    {
        if (OperatingSystem.IsLinux())
            Libc.shutdown((int)_socket.Handle, 2);
        else
            _socket.Close();
    }

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
            return;
        Unregister();
        _socket.Dispose();
        _closing.Cancel();
        Volatile.Read(ref _resume).TrySetResult();
        DisposeQueued();
    }

    /// <summary>Closes the sockets accepted and not taken. Either thread: the service thread's Dispose, or the accept loop that finds the listener disposed.</summary>
    private void DisposeQueued()
    {
        while (_queue.TryDequeue(out var item))
            item.Socket?.Dispose();
    }

    /// <summary>What one accept gave: a socket (accepted, or at the reserve: to be shed), or a failure described.</summary>
    private readonly record struct Taken(Socket? Socket, AcceptStatus Status, string Error);

    private static TaskCompletionSource CompletedResume()
    {
        var done = new TaskCompletionSource();
        done.SetResult();
        return done;
    }
}
