using System.Buffers;

namespace Ferry.Testing;

/// <summary>Bytes a test client has read but not yet handed to the test: one growable window, compacted as it is consumed.</summary>
internal sealed class InboundBytes
{
    private const int ReadSize = 16 * 1024;

    private byte[] _buffer = []; // allocated on the first read: an idle client costs no buffer
    private int _start;
    private int _end;

    public int Count => _end - _start;

    /// <summary>The unconsumed bytes; valid until the next <see cref="GetSpace"/>.</summary>
    public ReadOnlySequence<byte> Sequence => new(_buffer, _start, Count);

    /// <summary>Room to read into at the end of the window.</summary>
    public Memory<byte> GetSpace()
    {
        if (_buffer.Length - _end < ReadSize)
        {
            var target = Count + ReadSize > _buffer.Length ? new byte[Math.Max(_buffer.Length * 2, Count + ReadSize)] : _buffer;
            Buffer.BlockCopy(_buffer, _start, target, 0, Count);
            (_buffer, _end, _start) = (target, Count, 0);
        }
        return _buffer.AsMemory(_end);
    }

    public void Append(int read) => _end += read;

    public void Consume(long count)
    {
        _start += checked((int)count);
        if (_start == _end)
            _start = _end = 0;
    }

    /// <summary>Moves up to <c>destination.Length</c> bytes out of the window.</summary>
    public int MoveTo(Span<byte> destination)
    {
        var n = Math.Min(destination.Length, Count);
        _buffer.AsSpan(_start, n).CopyTo(destination);
        Consume(n);
        return n;
    }

    public byte[] TakeAll()
    {
        var all = _buffer.AsSpan(_start, Count).ToArray();
        Consume(all.Length);
        return all;
    }
}
