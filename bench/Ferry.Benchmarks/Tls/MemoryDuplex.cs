namespace Ferry.Benchmarks.Tls;

/// <summary>One end of an in-memory byte pipe pair: what one end writes, the other reads. Single-threaded use only.</summary>
internal sealed class MemoryDuplex : Stream
{
    private readonly ByteQueue _in = new();
    private MemoryDuplex _peer = null!;

    public static (MemoryDuplex, MemoryDuplex) Pair()
    {
        var a = new MemoryDuplex();
        var b = new MemoryDuplex();
        a._peer = b;
        b._peer = a;
        return (a, b);
    }

    public override int Read(Span<byte> buffer)
    {
        // Blocks until the peer wrote something (the handshake's other side runs on another thread).
        var spin = new SpinWait();
        while (buffer.Length > 0)
        {
            lock (_in)
            {
                var n = _in.Take(buffer);
                if (n > 0)
                    return n;
            }
            spin.SpinOnce();
        }
        return 0;
    }

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        // The handshake's two sides wait on each other: a read with nothing queued yields until the peer wrote.
        if (_in.Count == 0 && buffer.Length > 0)
            return WaitAndRead(buffer, cancellationToken);
        return ValueTask.FromResult(buffer.Length == 0 ? 0 : Read(buffer.Span));
    }

    private async ValueTask<int> WaitAndRead(Memory<byte> buffer, CancellationToken cancellationToken)
    {
        while (true)
        {
            lock (_in)
                if (_in.Count > 0)
                    return Read(buffer.Span);
            await Task.Delay(1, cancellationToken).ConfigureAwait(false);
        }
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
        => ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override void Write(ReadOnlySpan<byte> buffer)
    {
        lock (_peer._in)
            _peer._in.Put(buffer);
    }

    public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

    public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        Write(buffer.Span);
        return ValueTask.CompletedTask;
    }

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
    {
        Write(buffer.AsSpan(offset, count));
        return Task.CompletedTask;
    }

    public override void Flush() { }

    public override bool CanRead => true;
    public override bool CanWrite => true;
    public override bool CanSeek => false;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
}

/// <summary>Bytes in order, in one growing array.</summary>
internal sealed class ByteQueue
{
    private byte[] _bytes = new byte[64 * 1024];
    private int _start;
    private int _end;

    public int Count => _end - _start;

    public void Put(ReadOnlySpan<byte> data)
    {
        if (_end + data.Length > _bytes.Length)
        {
            var bigger = new byte[Math.Max(_bytes.Length, (Count + data.Length) * 2)];
            _bytes.AsSpan(_start, Count).CopyTo(bigger);
            (_bytes, _end, _start) = (bigger, Count, 0);
        }
        data.CopyTo(_bytes.AsSpan(_end));
        _end += data.Length;
    }

    public int Take(Span<byte> into)
    {
        var n = Math.Min(into.Length, Count);
        _bytes.AsSpan(_start, n).CopyTo(into);
        _start += n;
        if (_start == _end)
            _start = _end = 0;
        return n;
    }
}
