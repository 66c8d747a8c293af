using System.Net.Sockets;

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

    public WaitThenReadStream(Socket socket)
    {
        _socket = socket;
        _socket.Blocking = false;
    }

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
            var wait = _socket.ReceiveAsync(Memory<byte>.Empty, SocketFlags.None, cancellationToken);
            return wait.IsCompleted ? wait : WaitForBytesAsync(wait, cancellationToken);
        }
        var n = _socket.Receive(buffer.Span, SocketFlags.None, out var error);
        return error switch
        {
            SocketError.Success => ValueTask.FromResult(n),
            SocketError.WouldBlock => WaitThenReadAsync(buffer, cancellationToken),
            _ => ValueTask.FromException<int>(Failure(error)),
        };
    }

    /// <summary>
    /// A zero-byte receive that had to wait, confirmed before it is reported. The runtime completes one
    /// when the socket has nothing to read (measured: about 250 in 1,000 TLS connections around the
    /// handshake, an earlier readiness edge whose bytes a read already took), and the caller's buffered
    /// read that follows would then wait holding its buffer: SslStream's 32 KiB for the life of an idle
    /// TLS connection, or the stream transport's own read buffer. One peek tells the two apart.
    /// </summary>
    private async ValueTask<int> WaitForBytesAsync(ValueTask<int> wait, CancellationToken cancellationToken)
    {
        await wait.ConfigureAwait(false);
        while (!HasBytesOrEnd())
            await _socket.ReceiveAsync(Memory<byte>.Empty, SocketFlags.None, cancellationToken).ConfigureAwait(false);
        return 0;
    }

    /// <summary>
    /// Whether a read would not wait: bytes to read or the end of the stream. An error is thrown here: the
    /// peek takes the socket's pending error (a reset), and the read after it would see only the end.
    /// </summary>
    private bool HasBytesOrEnd()
    {
        Span<byte> one = stackalloc byte[1];
        _socket.Receive(one, SocketFlags.Peek, out var error);
        return error switch
        {
            SocketError.Success => true,
            SocketError.WouldBlock => false,
            _ => throw Failure(error),
        };
    }

    private async ValueTask<int> WaitThenReadAsync(Memory<byte> buffer, CancellationToken cancellationToken)
    {
        while (true)
        {
            await _socket.ReceiveAsync(Memory<byte>.Empty, SocketFlags.None, cancellationToken).ConfigureAwait(false);
            var n = _socket.Receive(buffer.Span, SocketFlags.None, out var error);
            if (error == SocketError.Success)
                return n;
            if (error != SocketError.WouldBlock)
                throw Failure(error);
        }
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override int Read(Span<byte> buffer)
    {
        while (true)
        {
            var n = _socket.Receive(buffer, SocketFlags.None, out var error);
            if (error == SocketError.Success)
                return n;
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
