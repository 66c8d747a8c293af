using System.Buffers;
using System.Net.Sockets;
using System.Security.Authentication;
using Ferry.Stages;
using Ferry.Transport.Tls;

namespace Ferry.Transport.Streams;

/// <summary>
/// One connection of the stream transport: a <see cref="Stream"/> over a socket (plain, or TLS after
/// an <see cref="IStreamHandshake"/>) whose asynchronous reads and writes post readiness to the
/// service loop, so the stage above reads and writes it exactly as it does an epoll socket.
/// </summary>
/// <remarks>
/// <para>Reading: a zero-byte read waits for data without holding a buffer (an idle connection holds
/// none, and no task or state machine of its own: one cached callback). When it completes the
/// connection is reported readable and <see cref="Receive"/> reads on the service thread itself: the
/// read that follows a zero-byte read almost always completes at once (TLS: the record is already
/// decrypted), so the bytes are decrypted and taken without a hop to another thread, as a recv() on
/// the epoll transport. Only a read that has to wait (a TLS record not yet complete) finishes on a pool
/// thread, holding its buffer until then. After the bytes are taken the next zero-byte read is armed.
/// While bytes remain the connection stays readable, which keeps the loop's one-read-per-round fairness.</para>
/// <para>Writing: <see cref="Send"/> copies up to about the kernel's send buffer size into a rented
/// buffer and starts a write; a write the socket takes at once completes on the sender's thread and
/// the buffer goes back. While a write is in flight nothing more is taken (0, as "would block"), and
/// readiness reports the connection writable when it completes.</para>
/// <para>Threads: <see cref="Receive"/> and the handshake acknowledgement on the service thread;
/// <see cref="Send"/> under the connection's egress lock; completions on pool threads. Locks:
/// the receive lock and the send lock are each taken alone, after the egress lock when at all.</para>
/// </remarks>
internal sealed class StreamConnectionIo : PostedSource, IConnectionIo, Ferry.Transport.Tls.IClientCertificateRefusal, ILingeringSocket
{
    /// <summary>The most bytes one write takes: bounds what the transport holds beyond the kernel's send buffer.</summary>
    private const int MaxSendBytes = 64 * 1024;

    // Receive states. Only a completion moves the state away from Waiting; only the service thread
    // (Receive) moves it away from Held and Ready.
    /// <summary>A read is in flight (zero-byte or not): nothing to take.</summary>
    private const int Waiting = 0;
    /// <summary>Bytes read and not yet taken, in <see cref="_rx"/>.</summary>
    private const int Held = 1;
    private const int Ended = 2;
    private const int Failed = 3;
    /// <summary>The zero-byte read completed: the stream has bytes (or its end) for the next read.</summary>
    private const int Ready = 4;

    private readonly Socket _socket;
    private readonly int _readSize;
    private readonly IStreamHandshake? _handshake;
    private Stream _stream;
    /// <summary>The socket as a stream: <see cref="_stream"/> itself, or what the TLS stream reads from.</summary>
    private readonly WaitThenReadStream _socketStream;

    // ---- receive side (under _rxLock) ----
    private readonly Lock _rxLock = new();
    private byte[]? _rx;
    private int _rxStart;
    private int _rxEnd;
    private volatile int _rxState;
    private int _rxError;
    private string? _rxErrorText;
    private bool _closed;
    /// <summary>The read in flight while <see cref="Waiting"/>, and its buffer (null for a zero-byte read).</summary>
    private ValueTask<int> _pending;
    private byte[]? _pendingBuffer;
    /// <summary>One callback for every read that has to wait, made on the first one.</summary>
    private Action? _onPendingRead;

    // ---- handshake ----
    /// <summary>0 running (or none), 2 done and not yet acknowledged, 3 acknowledged by the loop.</summary>
    private volatile int _handshakeState;
    private TlsConnectionInfo? _tls;

    // ---- PROXY header ahead of the handshake (set before the read loop starts) ----
    private ProxyProtocol _proxyHeader;
    private bool _proxyTrusted;
    /// <summary>Completed by the stage when it accepts the header (true) or by the close (false); only for a trusted proxy under TLS.</summary>
    private TaskCompletionSource<bool>? _proxyTaken;

    // ---- send side (under _outLock; a plain object because WaitWritable waits on it) ----
    private readonly object _outLock = new();
    private readonly int _sendCapacity;
    private volatile bool _inFlight;
    private volatile int _writeError;
    private string? _writeErrorText;
    /// <summary>
    /// The peer reset a TLS session that has not read a byte yet (see <see cref="Written"/>): the write's error waits for the
    /// read side, which tells why (the peer's alert) and closes; until then the connection neither reads nor writes more.
    /// </summary>
    private volatile bool _writeErrorAwaitsRead;
    /// <summary>Whether the read side has taken a byte from the peer (after a TLS handshake, a decrypted one).</summary>
    private volatile bool _receivedAny;
    private bool _closing;
    private volatile bool _abortive;
    private int _socketClosed;

    // ---- the graceful close (close_linger) ----
    private readonly CloseLinger _closeLinger;
    /// <summary>Cancelled when the graceful close is out of time (or reset to keep within the stage's bound); null when it does not wait.</summary>
    private CancellationTokenSource? _closeDeadline;
    /// <summary>The close's place among the stage's lingering closes, while it counts there.</summary>
    private LinkedListNode<ILingeringSocket>? _lingerPlace;
    /// <summary>The peer's end was read before the close (set by the close): a plain connection has nothing left to wait for.</summary>
    private bool _peerEnded;

    /// <summary>
    /// Where a graceful close puts the peer's last bytes it discards: shared by every connection, since nothing reads them
    /// (pinned, so a receive in flight costs no pinning; concurrent receives into it are harmless).
    /// </summary>
    private static readonly byte[] Discard = GC.AllocateUninitializedArray<byte>(4096, pinned: true);

    public StreamConnectionIo(Socket socket, int readSize, IStreamHandshake? handshake = null, CloseLinger? closeLinger = null)
    {
        _socket = socket;
        _closeLinger = closeLinger ?? CloseLinger.Unbounded;
        _stream = _socketStream = new WaitThenReadStream(socket);
        _readSize = readSize;
        _handshake = handshake;
        // One write takes about what the kernel's send buffer holds, so a slow reader backs bytes up
        // into the stage's egress buffer (and its overflow policy) as early as on the epoll transport.
        _sendCapacity = Math.Clamp(socket.SendBufferSize, 4096, MaxSendBytes);
    }

    /// <summary>The connection's socket (for options and tests; I/O goes through the stream).</summary>
    public Socket Socket => _socket;

    /// <summary>Whether messages wait for a handshake (TLS) to finish.</summary>
    public bool HasHandshake => _handshake is not null;

    private bool HandshakeDone => _handshake is null || _handshakeState >= 2;

    /// <summary>True once, when the handshake has finished: the loop establishes the connection then.</summary>
    public bool TryCompleteHandshake(out TlsConnectionInfo? info)
    {
        info = _tls;
        if (_handshakeState != 2)
            return false;
        _handshakeState = 3;
        return true;
    }

    public void ExpectProxyHeader(bool trusted, ProxyProtocol accepted)
    {
        _proxyHeader = accepted;
        _proxyTrusted = trusted;
        if (trusted && _handshake is not null)
            _proxyTaken = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    public void ProxyHeaderTaken() => _proxyTaken?.TrySetResult(true);

    public override ReadyFlags Poll()
    {
        var ready = ReadyFlags.None;
        var rx = _rxState;
        if (rx is Held or Ready || _handshakeState == 2)
            ready |= ReadyFlags.Readable;
        else if (rx is Ended or Failed)
            ready |= ReadyFlags.Readable | ReadyFlags.Closed;
        if (ReportedWriteError != 0)
            ready |= ReadyFlags.Readable | ReadyFlags.Writable | ReadyFlags.Closed;
        else if (!_inFlight && HandshakeDone && _writeError == 0)
            ready |= ReadyFlags.Writable;
        return ready;
    }

    /// <summary>The write's error as the loop sees it: none while it waits for the read side (<see cref="_writeErrorAwaitsRead"/>).</summary>
    private int ReportedWriteError => _writeErrorAwaitsRead ? 0 : _writeError;

    /// <summary>Registered with the loop's readiness: start the handshake (off the service thread), or wait for the first bytes.</summary>
    protected override void OnWatched()
    {
        if (_handshake is null)
            WaitForData();
        else
            ThreadPool.UnsafeQueueUserWorkItem(static s => _ = s.HandshakeAsync(), this, preferLocal: false);
    }

    private async Task HandshakeAsync()
    {
        // A trusted proxy's PROXY header comes first, in the clear; the stage judges it before the handshake.
        if (_proxyHeader != ProxyProtocol.Off)
        {
            bool passed;
            try
            {
                passed = await PassProxyHeaderAsync().ConfigureAwait(false);
            }
            catch (Exception ex)
            {
                // No handshake has begun: a reset here is the network's (reset, as on epoll), not a TLS failure.
                End(Failed, StreamErrors.Code(ex), StreamErrors.Describe(ex));
                return;
            }
            if (!passed)
                return;
        }
        try
        {
            // Every ciphertext byte from here on is a TLS record's.
            _socketStream.Records = new TlsRecordWatch(_handshake!.Time);
            var (secured, info) = await _handshake!.RunAsync(_stream, CancellationToken.None).ConfigureAwait(false);
            // A close (a handshake timeout, a stop) may have come while the handshake finished: it closed the socket's
            // stream, not this one, so the secured stream (its OpenSSL object) is let go here, not left to the finalizer.
            // Under the lock the close takes first: a close after it finds the secured stream and disposes it itself.
            bool closed;
            lock (_rxLock)
            {
                closed = _closed;
                if (!closed)
                {
                    _socketStream.ReportSpuriousWakeUps = true;
                    _socketStream.GuardReader();
                    _stream = secured;
                    _tls = info;
                }
            }
            if (closed)
            {
                await secured.DisposeAsync().ConfigureAwait(false);
                return;
            }
        }
        catch (Exception ex)
        {
            // Set before the end is posted: the service thread reads it when it closes the connection.
            _refusedCertificate = TlsRejectedException.In(ex)?.Certificate;
            // A server told a stream that did not open as a TLS client's says so, not SslStream's misleading words for it.
            var opening = _handshake is ServerTlsHandshake && _refusedCertificate is null ? _socketStream.Records?.ClientOpeningProblem() : null;
            End(Failed, IConnectionIo.HandshakeFailedError, opening is null ? TlsFailure.Describe(ex) : TlsFailure.HandshakeFailed + opening);
            return;
        }
        lock (_outLock)
        {
            _handshakeState = 2;
            Monitor.PulseAll(_outLock);
        }
        // Readable (the loop acknowledges the handshake) and writable (bytes queued meanwhile, such as a
        // session framing's greeting, go out now).
        Post();
        WaitForData();
    }

    /// <summary>Arms a zero-byte read: it waits for data without a buffer. Any thread, while no other read is in flight.</summary>
    private void WaitForData()
    {
        if (StartRead(null, out _))
            Post();
    }

    /// <summary>
    /// Starts a read into <paramref name="buffer"/> (null: a zero-byte read). True when it completed at
    /// once with <paramref name="count"/> bytes (0: the end of the stream, or a zero-byte read's "data
    /// waits"); false when it failed (state <see cref="Failed"/>) or has to wait (state
    /// <see cref="Waiting"/>, a pool thread finishes it and posts the connection).
    /// </summary>
    private bool StartRead(byte[]? buffer, out int count)
    {
        count = 0;
        if (!_socketStream.BeginRead())
        {
            // Closing (a close_notify is on its way): nothing more is read.
            if (buffer is not null)
                ArrayPool<byte>.Shared.Return(buffer);
            return false;
        }
        ValueTask<int> read;
        try
        {
            read = _stream.ReadAsync(buffer is null ? Memory<byte>.Empty : buffer.AsMemory(0, _readSize));
        }
        catch (Exception ex)
        {
            _socketStream.EndRead();
            ReadFailed(buffer, ex);
            return false;
        }
        if (!read.IsCompleted)
        {
            _pendingBuffer = buffer;
            _pending = read;
            _rxState = Waiting;
            // The callback may run at once on this thread: the state is set first.
            read.ConfigureAwait(false).GetAwaiter().UnsafeOnCompleted(_onPendingRead ??= OnPendingRead);
            return false;
        }
        _socketStream.EndRead();
        try
        {
            count = read.GetAwaiter().GetResult();
        }
        catch (Exception ex)
        {
            ReadFailed(buffer, ex);
            return false;
        }
        if (buffer is null)
            SetState(Ready);
        return true;
    }

    /// <summary>A read that had to wait has finished: keep its bytes (or the end) and tell the loop. Pool thread.</summary>
    private void OnPendingRead()
    {
        var buffer = _pendingBuffer;
        var read = _pending;
        _pendingBuffer = null;
        _pending = default;
        _socketStream.EndRead();
        int n;
        try
        {
            n = read.GetAwaiter().GetResult();
        }
        catch (Exception ex)
        {
            ReadFailed(buffer, ex);
            return;
        }
        lock (_rxLock)
        {
            if (_closed)
            {
                if (buffer is not null)
                    ArrayPool<byte>.Shared.Return(buffer);
                return;
            }
            if (buffer is null)
                _rxState = Ready;
            else if (n == 0)
            {
                ArrayPool<byte>.Shared.Return(buffer);
                _rxState = Ended;
            }
            else
            {
                _rx = buffer;
                _rxStart = 0;
                _rxEnd = n;
                _rxState = Held;
                _receivedAny = true;
            }
        }
        Post();
    }

    private void ReadFailed(byte[]? buffer, Exception ex)
    {
        if (buffer is not null)
            ArrayPool<byte>.Shared.Return(buffer);
        if (ex is NothingToReadException)
        {
            // A wake-up without bytes under TLS: the TLS stream gave its buffer back; wait again without one.
            SetState(Waiting);
            WaitForData();
            return;
        }
        if (IsTlsFailure(ex))
            End(Failed, IConnectionIo.HandshakeFailedError, TlsFailure.SessionFailed + TlsFailure.Cause(ex));
        else
            End(Failed, StreamErrors.Code(ex), StreamErrors.Describe(ex));
    }

    /// <summary>
    /// After the handshake, a read of the TLS stream that failed with neither a socket error nor the end of the
    /// stream under it failed in TLS itself (a renegotiation asked for, a record that does not decrypt): a
    /// protocol failure (tls_error, as on the epoll transport), not a reset.
    /// </summary>
    private bool IsTlsFailure(Exception ex)
    {
        if (_handshake is null || !HandshakeDone || ex is not IOException || _socketStream.Ended)
            return false;
        for (var cause = ex; cause is not null; cause = cause.InnerException)
            if (cause is SocketException)
                return false;
        return true;
    }

    /// <summary>A write of the TLS stream after the handshake that failed with no socket error under it: TLS failed it.</summary>
    private bool IsTlsWriteFailure(Exception ex)
    {
        if (_handshake is null || !HandshakeDone || ex is not IOException)
            return false;
        for (var cause = ex; cause is not null; cause = cause.InnerException)
            if (cause is SocketException)
                return false;
        return true;
    }

    /// <summary>
    /// Whether a write the peer reset (ECONNRESET, EPIPE) leaves the close to the read side: on a TLS session that has not
    /// read a byte yet. Why: a server that refuses this client's certificate after the client's handshake (TLS 1.3) sends
    /// its alert and closes, and with bytes of ours unread its close is a reset. Both reach the socket in that order, but a
    /// write that learns of the reset could close the connection before the read had taken the alert waiting in front of
    /// it: a refusal read as a lost connection, and the messages given to it forgotten. The reset makes the read in flight
    /// complete at once (the alert, the end, or the reset), and nothing holds reads back before a first byte, so the wait
    /// is short and bounded. Not when the read side has already ended (the peer's end taken first: the connection may be
    /// writing what is left with reads stopped) or failed. Later in a session a reset closes at once, as on the epoll
    /// transport: reads may be paused then.
    /// </summary>
    private bool ReadTellsWhy(Exception failure)
        => _handshake is not null && HandshakeDone && !_receivedAny && _rxState is not (Ended or Failed)
            && StreamErrors.Code(failure) is (int)SocketError.ConnectionReset or (int)SocketError.Shutdown or (int)SocketError.ConnectionAborted;

    private void SetState(int state)
    {
        lock (_rxLock)
        {
            if (!_closed)
                _rxState = state;
        }
    }

    /// <summary>Gives the loop a PROXY header read ahead of the handshake (the buffer goes back when it is taken); false when the connection closed.</summary>
    private bool HandOverHeader(byte[] buffer, int n)
    {
        lock (_rxLock)
        {
            if (_closed)
            {
                ArrayPool<byte>.Shared.Return(buffer);
                return false;
            }
            _rx = buffer;
            _rxStart = 0;
            _rxEnd = n;
            _rxState = Held;
        }
        Post();
        return true;
    }

    /// <summary>
    /// Before the TLS handshake, in the clear: a trusted proxy's PROXY header is read exactly (not a byte of
    /// the client hello after it), handed to the stage, and the handshake waits until the stage has
    /// accepted it; anyone else's first bytes are peeked at, and a header there is refused. False when the
    /// connection ended.
    /// </summary>
    private async Task<bool> PassProxyHeaderAsync()
    {
        if (!_proxyTrusted)
        {
            var probe = new byte[16];
            var seen = await _socket.ReceiveAsync(probe, SocketFlags.Peek).ConfigureAwait(false);
            if (!Proxy.ProxyHeaderParser.StartsWithSignature(probe.AsSpan(0, seen)))
                return true;
            End(Failed, IConnectionIo.ProxyRefusedError, $"a PROXY header from {(_socket.RemoteEndPoint as System.Net.IPEndPoint)?.Address}, which is not in trusted_proxies");
            return false;
        }
        var header = ArrayPool<byte>.Shared.Rent(Proxy.ProxyHeaderParser.MaxBytes);
        var n = 0;
        int wanted;
        // Until the header is complete or already invalid (then the stage refuses it now, as on epoll).
        while ((wanted = Proxy.ProxyHeaderParser.BytesWanted(header.AsSpan(0, n), _proxyHeader)) > 0)
        {
            int read;
            try
            {
                read = await _stream.ReadAsync(header.AsMemory(n, wanted)).ConfigureAwait(false);
            }
            catch
            {
                ArrayPool<byte>.Shared.Return(header);
                throw;
            }
            if (read == 0)
            {
                ArrayPool<byte>.Shared.Return(header);
                End(Ended, 0, null);
                return false;
            }
            n += read;
        }
        // The stage judges the header (and the client it names); a refusal closes the connection.
        return HandOverHeader(header, n) && await _proxyTaken!.Task.ConfigureAwait(false);
    }

    private void End(int state, int error, string? text)
    {
        lock (_rxLock)
        {
            if (_closed)
                return;
            _rxError = error;
            _rxErrorText = text;
            _rxState = state;
        }
        Post();
    }

    public int Receive(Span<byte> buffer, out int error)
    {
        error = 0;
        switch (_rxState)
        {
            case Held:
                return TakeHeld(buffer);
            case Ready:
                var n = ReadNow(buffer, out error);
                if (n != 0 || !_writeErrorAwaitsRead)
                    return n;
                error = _writeError; // the end, after a write the peer reset: as below
                return -1;
            case Ended:
                if (!_writeErrorAwaitsRead)
                    return 0;
                // The peer's end came after a write it reset: the reset is the reason, as it would have been at once.
                error = _writeError;
                return -1;
            case Failed:
                error = _rxError;
                return -1;
            default:
                // Nothing to read; a failed write is reported here too, so the loop closes at once (unless it waits for
                // the read in flight, whose completion posts).
                error = ReportedWriteError;
                return -1;
        }
    }

    /// <summary>Copies out bytes a read left; when they are all taken the buffer goes back and the next zero-byte read is armed.</summary>
    private int TakeHeld(Span<byte> buffer)
    {
        int n;
        lock (_rxLock)
        {
            n = Math.Min(buffer.Length, _rxEnd - _rxStart);
            _rx.AsSpan(_rxStart, n).CopyTo(buffer);
            _rxStart += n;
            if (_rxStart < _rxEnd)
                return n;
            ArrayPool<byte>.Shared.Return(_rx!);
            _rx = null;
            _rxState = Waiting;
        }
        // A PROXY header taken ahead of the TLS handshake: the handshake reads next, and arms the first wait when done.
        if (HandshakeDone)
            WaitForData();
        return n;
    }

    /// <summary>The stream has bytes: read them here, on the service thread (decrypted without a hop to another thread).</summary>
    private int ReadNow(Span<byte> buffer, out int error)
    {
        error = 0;
        var rented = ArrayPool<byte>.Shared.Rent(_readSize);
        if (_handshake is null)
            return ReadPlainNow(rented, buffer, out error);
        if (!StartRead(rented, out var n))
        {
            // Failed (error set), or a TLS record still incomplete (nothing now: its completion posts).
            error = _rxState == Failed ? _rxError : 0;
            return -1;
        }
        return Took(rented, n, buffer);
    }

    /// <summary>Keeps the <paramref name="n"/> bytes a read put in <paramref name="rented"/> (0: the end) and copies out what <paramref name="buffer"/> takes.</summary>
    private int Took(byte[] rented, int n, Span<byte> buffer)
    {
        if (n == 0)
        {
            ArrayPool<byte>.Shared.Return(rented);
            SetState(Ended);
            return 0;
        }
        lock (_rxLock)
        {
            if (_closed)
            {
                ArrayPool<byte>.Shared.Return(rented);
                return -1;
            }
            _rx = rented;
            _rxStart = 0;
            _rxEnd = n;
            _rxState = Held;
            _receivedAny = true;
        }
        return TakeHeld(buffer);
    }

    /// <summary>
    /// A plain connection reads what the kernel has, never waiting with a buffer: when the zero-byte read
    /// completed with nothing to read (the runtime completes one on a readiness edge whose bytes an
    /// earlier read already took), the buffer goes back and the wait is armed again, so an idle
    /// connection holds none.
    /// </summary>
    private int ReadPlainNow(byte[] rented, Span<byte> buffer, out int error)
    {
        error = 0;
        int n;
        try
        {
            if (!_socketStream.TryReadNow(rented.AsSpan(0, _readSize), out n))
            {
                ArrayPool<byte>.Shared.Return(rented);
                SetState(Waiting);
                WaitForData();
                return -1;
            }
        }
        catch (IOException ex)
        {
            ReadFailed(rented, ex);
            error = _rxError;
            return -1;
        }
        return Took(rented, n, buffer);
    }

    public int Send(ReadOnlySpan<byte> data, out int error)
    {
        // As send(): take as much as the socket takes now. Each chunk is one write; a write the socket
        // takes at once completes here and the next chunk follows; one that has to wait ends the call.
        var total = 0;
        while (total < data.Length)
        {
            int n;
            byte[] buffer;
            lock (_outLock)
            {
                if (_writeError != 0 || _closing)
                {
                    // A write error that waits for the read side is "would block" here: the read closes the connection.
                    error = total > 0 ? 0 : ReportedWriteError != 0 ? ReportedWriteError : _closing ? (int)SocketError.Shutdown : 0;
                    return total > 0 ? total : -1;
                }
                // One write in flight at a time, as the kernel's "would block": while the socket (or TLS)
                // has not taken the last bytes, nothing more is taken and the stage's own egress buffer
                // fills and applies its overflow policy, exactly as on the epoll transport.
                if (_inFlight || !HandshakeDone)
                    break;
                n = Math.Min(_sendCapacity, data.Length - total);
                buffer = ArrayPool<byte>.Shared.Rent(n);
                data.Slice(total, n).CopyTo(buffer);
                _inFlight = true;
            }
            total += n;
            if (!Write(buffer, n))
                break;
        }
        error = 0;
        return total;
    }

    /// <summary>Starts one write; true when it completed at once (the socket took it), on this thread, as a send() would.</summary>
    private bool Write(byte[] buffer, int count)
    {
        ValueTask pending;
        try
        {
            pending = _stream.WriteAsync(buffer.AsMemory(0, count));
        }
        catch (Exception ex)
        {
            Written(buffer, ex);
            return true;
        }
        if (pending.IsCompletedSuccessfully)
        {
            Written(buffer, null);
            return true;
        }
        _ = AwaitWriteAsync(pending, buffer);
        return false;
    }

    private async Task AwaitWriteAsync(ValueTask pending, byte[] buffer)
    {
        Exception? failure = null;
        try
        {
            await pending.ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            failure = ex;
        }
        Written(buffer, failure);
        Post(); // room (or the failure) for a connection waiting to write
    }

    private void Written(byte[] buffer, Exception? failure)
    {
        bool close;
        lock (_outLock)
        {
            ArrayPool<byte>.Shared.Return(buffer);
            _inFlight = false;
            if (failure is not null && IsTlsWriteFailure(failure))
            {
                // SslStream's "The encryption operation failed": the session had already taken the peer's alert (a TLS 1.3
                // server refusing this client's certificate) on the read side, which may not have said so yet. A TLS
                // error, with OpenSSL's reason, as the read would report it; as a reset, a refusal read as a lost connection
                // and the held messages given to it were forgotten (the stage holds them again only on a TLS error).
                _writeErrorText = TlsFailure.SessionFailed + TlsFailure.Cause(failure);
                _writeError = IConnectionIo.HandshakeFailedError;
            }
            else if (failure is not null)
            {
                _writeErrorText = StreamErrors.Describe(failure);
                // Set first: the loop, on another thread, never sees the error without knowing that it waits.
                _writeErrorAwaitsRead = ReadTellsWhy(failure);
                _writeError = StreamErrors.Code(failure);
            }
            close = _closing;
            Monitor.PulseAll(_outLock);
        }
        if (close)
            CloseSocket(); // a graceful close was waiting for this write
    }

    public bool WaitWritable(int timeoutMs)
    {
        var deadline = Environment.TickCount64 + timeoutMs;
        lock (_outLock)
        {
            while ((_inFlight || !HandshakeDone) && _writeError == 0 && !_closing)
            {
                var left = deadline - Environment.TickCount64;
                if (left <= 0)
                    return false;
                Monitor.Wait(_outLock, (int)left);
            }
            return true;
        }
    }

    public void SetAbortiveClose() => _abortive = true;

    public bool HoldsPartialRecord(out long sinceTimestamp)
    {
        sinceTimestamp = 0;
        return _socketStream.Records is { } records && records.HoldsPartialRecord(out sinceTimestamp);
    }

    private volatile Ferry.Transport.Tls.RefusedClientCertificate? _refusedCertificate;

    /// <inheritdoc/>
    public Ferry.Transport.Tls.RefusedClientCertificate? RefusedClientCertificate => _refusedCertificate;

    public string DescribeError(int error)
    {
        if (error == _rxError && _rxErrorText is { } rx)
            return rx;
        if (error == _writeError && _writeErrorText is { } tx)
            return tx;
        return ((SocketError)error).ToString();
    }

    /// <summary>The close, on the service thread under the egress lock: queued bytes are written first unless the close is abortive.</summary>
    public void Dispose()
    {
        Unregister();
        lock (_rxLock)
        {
            _closed = true;
            _peerEnded = _rxState == Ended;
            if (_rx is not null)
                ArrayPool<byte>.Shared.Return(_rx);
            _rx = null;
        }
        // A read in flight fails when the stream is closed below; its completion returns its buffer.
        _proxyTaken?.TrySetResult(false);
        bool writesPending;
        lock (_outLock)
        {
            // A graceful close waits (for the write in flight, the close_notify, the peer's EOF) within the stage's
            // close_linger on the stage's clock, counted among the stage's lingering closes: the deadline starts here,
            // before a write's completion can see the close and finish it. A plain connection whose peer already ended
            // and that has no write in flight has nothing to wait for (no bytes can follow the peer's end, and the
            // kernel sends what it took before the FIN): it closes at once, without a timer or a place in the count,
            // which is what most connections' ends are (the client closes first).
            if (!_abortive && _closeLinger.Limit > TimeSpan.Zero && !(_peerEnded && !_inFlight && _stream is not System.Net.Security.SslStream))
            {
                _closeDeadline = new CancellationTokenSource(_closeLinger.Limit, _closeLinger.Time);
                _lingerPlace = _closeLinger.Enter(this);
            }
            _closing = true;
            writesPending = _inFlight && !_abortive;
            Monitor.PulseAll(_outLock);
        }
        if (!writesPending || _closeDeadline is null)
        {
            CloseSocket();
            return;
        }
        // The write in flight closes the socket when it completes, or the close's deadline does (the write then fails).
        // It is finished even when the stage drops the egress it still holds: its bytes were counted as sent, as those
        // the kernel took on epoll, which go out after the close; and under TLS a write cut short leaves half a record,
        // which the peer reads as a broken session, with no close_notify after it. A peer that never reads costs the
        // descriptor close_linger long at most, and it is counted among the stage's lingering closes, which are bounded.
        _closeDeadline.Token.UnsafeRegister(static s => ((StreamConnectionIo)s!).CloseSocket(), this);
    }

    /// <summary>
    /// Reset to keep the stage's lingering closes within their bound (<see cref="CloseLinger"/>): the close gives up at once,
    /// with a reset. On a pool thread: the cancellation runs the close's continuations, which the service thread (that
    /// closed the connection making this one the oldest too many) must not run.
    /// </summary>
    void ILingeringSocket.Reset()
    {
        _abortive = true;
        ThreadPool.UnsafeQueueUserWorkItem(static io =>
        {
            try
            {
                io._closeDeadline?.Cancel();
            }
            catch (ObjectDisposedException)
            {
                // Closed meanwhile.
            }
        }, this, preferLocal: false);
    }

    private void CloseSocket()
    {
        if (Interlocked.Exchange(ref _socketClosed, 1) != 0)
            return;
        if (_abortive)
        {
            try
            {
                _socket.LingerState = new LingerOption(true, 0);
            }
            catch (SocketException)
            {
                // Already reset by the peer: closing is all that is left.
            }
            catch (ObjectDisposedException)
            {
            }
            // Closed before the stream: the stream's close shuts the socket down first (a FIN, so that a
            // graceful close with a read pending is not turned into a reset), and a FIN ahead of the reset
            // told a shed or refused client "end of data" instead of "refused", unlike the epoll transport.
            _socket.Dispose();
        }
        else
        {
            _ = FinishGracefullyAsync();
            return;
        }
        _stream.Dispose();
        _socket.Dispose();
        Closed();
    }

    /// <summary>The socket is closed: no longer counted as lingering.</summary>
    private void Closed()
    {
        if (_lingerPlace is { } place)
            _closeLinger.Leave(place);
        _closeDeadline?.Dispose();
    }

    /// <summary>
    /// A graceful close, off the service thread: the close_notify (waited for, not dropped when the socket is full), the
    /// FIN behind it, then the peer's bytes read and discarded until its EOF, and only then the socket closed. Closing with
    /// bytes unread in the receive queue makes the kernel send a reset, and the reset makes the peer's kernel drop what it
    /// received and had not read yet: a client that kept sending lost the last answers. Bounded by the stage's
    /// <c>close_linger</c> (<see cref="CloseLinger"/>, counted from the stage's close, on its clock): a peer that neither reads
    /// nor closes is closed on anyway. With no linger what can go at once does, and the socket closes.
    /// </summary>
    private async Task FinishGracefullyAsync()
    {
        try
        {
            if (_closeDeadline is not { } deadline)
            {
                CloseAtOnce();
                return;
            }
            if (ClosesPolitely(out var ssl))
            {
                // Not while the read in flight decrypts on the same session (WaitThenReadStream.StopReading).
                await _socketStream.StopReading().WaitAsync(deadline.Token).ConfigureAwait(false);
                await ssl.ShutdownAsync().WaitAsync(deadline.Token).ConfigureAwait(false);
            }
            _socket.Shutdown(SocketShutdown.Send);
            while (await _socket.ReceiveAsync(Discard, SocketFlags.None, deadline.Token).ConfigureAwait(false) > 0)
            {
            }
        }
        catch (Exception ex) when (ex is OperationCanceledException or SocketException or IOException or ObjectDisposedException
            or InvalidOperationException or NotSupportedException or AuthenticationException)
        {
            // Out of time, or the peer reset or went away: the close goes on.
        }
        finally
        {
            if (_abortive)
                CloseWithReset(); // beyond the stage's bound: a reset, before the stream's close can send a FIN
            _stream.Dispose();
            _socket.Dispose();
            Closed();
        }
    }

    /// <summary><c>close_linger</c> 0: the close_notify if the socket takes it now, the FIN, the peer's bytes already there discarded; no waiting.</summary>
    private void CloseAtOnce()
    {
        // The peer ended and nothing is owed (plain): the close's own FIN is all there is to send, nothing to discard.
        if (_peerEnded && _stream is not System.Net.Security.SslStream)
            return;
        // Not while the read in flight decrypts on the same session (WaitThenReadStream.StopReading); waiting for it is
        // waiting, so a close that finds the peer's last record being decrypted sends no close_notify.
        if (ClosesPolitely(out var ssl) && _socketStream.StopReading().IsCompleted)
        {
            // Not waited for: what the socket does not take now is lost with the close (observed, so as not to go unobserved).
            _ = ssl.ShutdownAsync().ContinueWith(static t => _ = t.Exception, CancellationToken.None,
                TaskContinuationOptions.OnlyOnFaulted | TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        }
        _socket.Shutdown(SocketShutdown.Send);
        while (_socket.Available > 0 && _socket.Receive(Discard, SocketFlags.None) > 0)
        {
        }
    }

    /// <summary>Closes the socket with a reset (SO_LINGER 0).</summary>
    private void CloseWithReset()
    {
        try
        {
            _socket.LingerState = new LingerOption(true, 0);
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
        {
        }
        _socket.Dispose();
    }

    /// <summary>
    /// Whether the graceful close sends close_notify (RFC 8446, 6.1; 5246, 7.2.1: without it an OpenSSL 3 peer reads the
    /// close as "unexpected EOF"; SslStream's dispose sends none): on a secured session that did not fail (a failed read or
    /// write sent or got an alert, or broke the stream) and with no write in flight (one write at a time on SslStream: a
    /// close that gave up waiting on one, after its linger, sends nothing). It is waited for, within the close's limit.
    /// </summary>
    private bool ClosesPolitely([System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out System.Net.Security.SslStream? ssl)
    {
        ssl = _stream as System.Net.Security.SslStream;
        return ssl is not null && _rxState != Failed && _writeError == 0 && !_inFlight;
    }
}
