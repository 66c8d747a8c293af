using System.Net.Sockets;
using System.Runtime.CompilerServices;
using Ferry.Transport.Tls;

namespace Ferry.Transport.Streams;

/// <summary>
/// A connection's socket as a stream whose reads never wait with a buffer: a read takes what the
/// kernel has at once, and when it has nothing it waits with a zero-byte receive and tries again.
/// </summary>
/// <remarks>
/// Why not <see cref="NetworkStream"/>: a receive that has to wait is kept by the socket for reuse,
/// and it goes on referring to the buffer it waited with after it completed. Under TLS that buffer is
/// <see cref="System.Net.Security.SslStream"/>'s 32 KiB read buffer, which SslStream gives back to the
/// pool after the handshake: the stale reference kept it alive for every connection whose handshake
/// ended on a wait (measured: about one TLS connection in five, 32 KiB each, with a heap dump's
/// <c>gcroot</c> leading to <c>SocketAsyncContext+BufferMemoryReceiveOperation</c>). Waiting only
/// with zero-byte receives leaves nothing to refer to. The socket is switched to non-blocking mode,
/// so the synchronous members are implemented on the same waits.
/// </remarks>
internal sealed class WaitThenReadStream : Stream
{
    private readonly Socket _socket;
    private int _disposed;
    /// <summary>The last read was a zero-byte read: the next read into a buffer is the one that follows a wake-up.</summary>
    private bool _afterWait;

    // ---- the reader's gate, under TLS (see StopReading) ----
    private readonly Lock _gate = new();
    private volatile bool _guarded;
    /// <summary>Reading has stopped: the reader gets no more bytes.</summary>
    private bool _stopped;
    /// <summary>The reader may be in its TLS library: a read of the connection's began, or bytes were handed to it, and it has not come back.</summary>
    private bool _readerBusy;
    /// <summary>What a stop waits on while the reader is busy.</summary>
    private TaskCompletionSource? _idle;

    public WaitThenReadStream(Socket socket)
    {
        _socket = socket;
        _socket.Blocking = false;
    }

    /// <summary>
    /// When set, a read into a buffer right after a zero-byte read, that finds nothing, throws
    /// <see cref="NothingToReadException"/> instead of waiting holding the buffer. The runtime completes
    /// a zero-byte receive on any readiness edge of the socket, also one whose bytes an earlier read
    /// already took (measured: about one TLS connection in four right after its handshake), and the
    /// buffer is <see cref="System.Net.Security.SslStream"/>'s 32 KiB, which it would then hold for
    /// as long as the connection stays idle. The reader's read fails with the exception, which leaves
    /// the TLS stream as it was (nothing was taken from the socket), and the reader waits again without
    /// a buffer. Set after the handshake, whose reads must not fail; a spurious wake-up costs one
    /// exception, the common one nothing (no peek per wake-up).
    /// </summary>
    public bool ReportSpuriousWakeUps { get; set; }

    /// <summary>
    /// Under TLS, from the handshake on: follows the record boundaries in what is read (the TLS stream holds an
    /// unfinished record out of the stage's sight; the stage's frame deadline covers it through this).
    /// </summary>
    public TlsRecordWatch? Records { get; set; }

    public override bool CanRead => true;

    public override bool CanWrite => true;

    public override bool CanSeek => false;

    public override long Length => throw new NotSupportedException();

    public override long Position
    {
        get => throw new NotSupportedException();
        set => throw new NotSupportedException();
    }

    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (buffer.IsEmpty)
        {
            // The reader waits for bytes: it is out of its TLS library until it reads again.
            if (_guarded && ReaderOut())
                return ValueTask.FromResult(0);
            _afterWait = true;
            return _socket.ReceiveAsync(Memory<byte>.Empty, SocketFlags.None, cancellationToken);
        }
        var afterWait = _afterWait;
        _afterWait = false;
        var n = Receive(buffer.Span, out var error, out var stopped);
        if (stopped)
            return ValueTask.FromResult(0);
        return error switch
        {
            SocketError.Success => ValueTask.FromResult(Seen(buffer.Span, n)),
            SocketError.WouldBlock when afterWait && ReportSpuriousWakeUps => ValueTask.FromException<int>(new NothingToReadException()),
            SocketError.WouldBlock => WaitThenReadAsync(buffer, cancellationToken),
            _ => ValueTask.FromException<int>(Failure(error)),
        };
    }

    /// <summary>
    /// Reads what the kernel has now into <paramref name="buffer"/>, never waiting: false when there is
    /// nothing (a zero-byte read's completion can come without bytes, see <see cref="ReportSpuriousWakeUps"/>),
    /// so the caller gives its buffer back and waits again without one. <paramref name="count"/> 0 is the end.
    /// </summary>
    /// <exception cref="IOException">The socket failed.</exception>
    public bool TryReadNow(Span<byte> buffer, out int count)
    {
        count = _socket.Receive(buffer, SocketFlags.None, out var error);
        return error switch
        {
            SocketError.Success => true,
            SocketError.WouldBlock => false,
            _ => throw Failure(error),
        };
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<int> WaitThenReadAsync(Memory<byte> buffer, CancellationToken cancellationToken)
    {
        while (true)
        {
            await _socket.ReceiveAsync(Memory<byte>.Empty, SocketFlags.None, cancellationToken).ConfigureAwait(false);
            var n = Receive(buffer.Span, out var error, out var stopped);
            if (stopped)
                return 0;
            if (error == SocketError.Success)
                return Seen(buffer.Span, n);
            if (error != SocketError.WouldBlock)
                throw Failure(error);
        }
    }

    /// <summary>
    /// Guards the reader from here on (under TLS, once the session is up): see <see cref="StopReading"/>. Before it, and
    /// on a plain connection, reads take no lock.
    /// </summary>
    public void GuardReader() => _guarded = true;

    /// <summary>
    /// The connection's own read of the TLS stream above begins: false (nothing may be read) once reading has stopped. Any
    /// thread; from here until <see cref="EndRead"/> the reader may be in its TLS library, unless it waits for bytes.
    /// </summary>
    public bool BeginRead()
    {
        if (!_guarded)
            return true;
        lock (_gate)
        {
            if (_stopped)
                return false;
            SetBusy(true);
            return true;
        }
    }

    /// <summary>That read has ended (with bytes, the end or a failure): the reader is out of its TLS library.</summary>
    public void EndRead()
    {
        if (_guarded)
            ReaderOut();
    }

    /// <summary>
    /// No more bytes go to the reader: its reads find the end from now on. The task completes when the reader is out of its
    /// TLS library: at once when it waits for bytes or reads nothing, else when the read it is decrypting ends (promptly: it
    /// gets no more bytes). Why: a close that sends close_notify (<see cref="System.Net.Security.SslStream.ShutdownAsync"/>)
    /// calls OpenSSL on the session without the lock SslStream takes for its reads and writes, and OpenSSL allows one
    /// thread on a session at a time. A close_notify sent while a pool thread decrypted the peer's last record on the same
    /// session corrupted the process's heap (with <c>SSL_MODE_RELEASE_BUFFERS</c>, <see cref="TlsIdleMemory"/>, one freed
    /// the record buffer the other was writing into): "free(): corrupted unsorted chunks", the whole process gone.
    /// </summary>
    public Task StopReading()
    {
        if (!_guarded)
            return Task.CompletedTask;
        lock (_gate)
        {
            _stopped = true;
            if (!_readerBusy)
                return Task.CompletedTask;
            _idle ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            return _idle.Task;
        }
    }

    /// <summary>
    /// The reader is out of its TLS library (it is about to wait for bytes, or its read ended): a stop waiting on it goes on.
    /// True when reading has stopped.
    /// </summary>
    private bool ReaderOut()
    {
        bool stopped;
        TaskCompletionSource? idle;
        lock (_gate)
        {
            stopped = _stopped;
            idle = SetBusy(false);
        }
        idle?.TrySetResult();
        return stopped;
    }

    /// <summary>Under the gate: whether the reader may be in its TLS library; when it is not, the stop waiting on it, to release.</summary>
    private TaskCompletionSource? SetBusy(bool busy)
    {
        _readerBusy = busy;
        var idle = busy ? null : _idle;
        if (!busy)
            _idle = null;
        return idle;
    }

    /// <summary>
    /// A receive for the reader. Guarded, it is under the gate, and bytes handed over make the reader busy (it decrypts them
    /// next); <paramref name="stopped"/> when reading has stopped, and nothing is taken from the socket.
    /// </summary>
    private int Receive(Span<byte> buffer, out SocketError error, out bool stopped)
    {
        stopped = false;
        if (!_guarded)
            return _socket.Receive(buffer, SocketFlags.None, out error);
        var n = 0;
        TaskCompletionSource? idle;
        lock (_gate)
        {
            stopped = _stopped;
            error = SocketError.Success;
            if (!stopped)
                n = _socket.Receive(buffer, SocketFlags.None, out error);
            // Nothing handed over (it finds the end, waits, or fails): the reader decrypts nothing before it comes back.
            idle = SetBusy(error == SocketError.Success && n > 0);
        }
        idle?.TrySetResult();
        return n;
    }

    /// <summary>The <paramref name="n"/> bytes just read into <paramref name="buffer"/> go past the record watch, if any.</summary>
    private int Seen(Span<byte> buffer, int n)
    {
        if (n == 0)
            Ended = true;
        else
            Records?.Observe(buffer[..n]);
        return n;
    }

    /// <summary>A read found the end of the stream (the peer's FIN): a failure of the TLS stream above is then a truncation, not a TLS error.</summary>
    public bool Ended { get; private set; }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override int Read(Span<byte> buffer)
    {
        while (true)
        {
            var n = Receive(buffer, out var error, out var stopped);
            if (stopped)
                return 0;
            if (error == SocketError.Success)
                return Seen(buffer, n);
            if (error != SocketError.WouldBlock)
                throw Failure(error);
            _socket.Poll(-1, SelectMode.SelectRead);
        }
    }

    public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        // A stream socket's send completes only when all of it is taken.
        await _socket.SendAsync(buffer, SocketFlags.None, cancellationToken).ConfigureAwait(false);
    }

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

    public override void Write(ReadOnlySpan<byte> buffer)
    {
        while (!buffer.IsEmpty)
        {
            var n = _socket.Send(buffer, SocketFlags.None, out var error);
            if (error == SocketError.WouldBlock)
            {
                _socket.Poll(-1, SelectMode.SelectWrite);
                continue;
            }
            if (error != SocketError.Success)
                throw Failure(error);
            buffer = buffer[n..];
        }
    }

    public override void Flush()
    {
    }

    public override Task FlushAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing && Interlocked.Exchange(ref _disposed, 1) == 0)
        {
            // As NetworkStream does: a shutdown first, so that closing a socket with a receive still
            // pending ends with FIN; the runtime turns a close that has to abort operations into a reset
            // unless the socket was shut down.
            try
            {
                _socket.Shutdown(SocketShutdown.Both);
            }
            catch (SocketException)
            {
            }
            catch (ObjectDisposedException)
            {
            }
            _socket.Dispose();
        }
        base.Dispose(disposing);
    }

    /// <summary>As <see cref="NetworkStream"/> reports it: an <see cref="IOException"/> around the socket's error.</summary>
    private static IOException Failure(SocketError error)
    {
        var inner = new SocketException((int)error);
        return new IOException($"Unable to transfer data on the transport connection: {inner.Message}.", inner);
    }
}
