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
            _afterWait = true;
            return _socket.ReceiveAsync(Memory<byte>.Empty, SocketFlags.None, cancellationToken);
        }
        var afterWait = _afterWait;
        _afterWait = false;
        var n = _socket.Receive(buffer.Span, SocketFlags.None, out var error);
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
            var n = _socket.Receive(buffer.Span, SocketFlags.None, out var error);
            if (error == SocketError.Success)
                return Seen(buffer.Span, n);
            if (error != SocketError.WouldBlock)
                throw Failure(error);
        }
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
            var n = _socket.Receive(buffer, SocketFlags.None, out var error);
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
