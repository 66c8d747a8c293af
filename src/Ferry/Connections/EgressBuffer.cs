using System.Buffers;

namespace Ferry.Connections;

/// <summary>
/// A connection's queued egress bytes: a growable window over one rented array. Holds no memory
/// while empty, so an idle connection costs nothing here; callers bound its length.
/// </summary>
internal sealed class EgressBuffer : IBufferWriter<byte>
{
    private const int MinimumBytes = 4096;

    private byte[]? _array;
    private int _head;
    private int _tail;

    public int Length => _tail - _head;

    public bool IsEmpty => _tail == _head;

    public ReadOnlySpan<byte> Pending => _array is null ? default : _array.AsSpan(_head, _tail - _head);

    public void Consume(int count)
    {
        _head += count;
        if (_head == _tail)
            Release();
    }

    public void Advance(int count) => _tail += count;

    public Memory<byte> GetMemory(int sizeHint = 0)
    {
        Ensure(sizeHint);
        return _array.AsMemory(_tail);
    }

    public Span<byte> GetSpan(int sizeHint = 0)
    {
        Ensure(sizeHint);
        return _array.AsSpan(_tail);
    }

    public void Release()
    {
        if (_array is not null)
            ArrayPool<byte>.Shared.Return(_array);
        _array = null;
        _head = _tail = 0;
    }

    private void Ensure(int sizeHint)
    {
        var need = Math.Max(sizeHint, 1);
        if (_array is null)
        {
            _array = ArrayPool<byte>.Shared.Rent(Math.Max(need, MinimumBytes));
            return;
        }
        if (_array.Length - _tail >= need)
            return;
        var length = Length;
        if (_array.Length - length >= need && _head >= length)
        {
            // Enough room once the sent bytes at the front are reclaimed, and cheap to move.
            _array.AsSpan(_head, length).CopyTo(_array);
        }
        else
        {
            var bigger = ArrayPool<byte>.Shared.Rent(Math.Max(_array.Length * 2, length + need));
            _array.AsSpan(_head, length).CopyTo(bigger);
            ArrayPool<byte>.Shared.Return(_array);
            _array = bigger;
        }
        _head = 0;
        _tail = length;
    }
}
