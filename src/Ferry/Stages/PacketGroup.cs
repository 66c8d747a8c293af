using System.Buffers;
using System.Net;
using Ferry.Bus;
using Ferry.Connections;
using Ferry.Framing;

namespace Ferry.Stages;

/// <summary>
/// Up to <c>group_size</c> packets, from any mix of connections, published as one message on
/// <c>&lt;stage&gt;/packet_group</c>. Groups are pooled: the payloads of all its packets sit in one
/// rented slab. A group is valid while a handler runs, or, for a queue subscription, until the
/// reader takes the next message; copy what you keep. After that its packets and payloads belong to
/// another group.
/// </summary>
/// <remarks>Reading a group is safe from several threads while it is valid; never hold it, a packet or
/// a payload past that point.</remarks>
public sealed class PacketGroup : IRetainable
{
    private const int InitialSlabBytes = 4096;
    // Slabs above this go back to the shared pool when the group is recycled, so that one burst of
    // big packets does not pin memory for the life of the stage.
    private const int RetainedSlabBytes = 256 * 1024;

    private readonly PacketGroupPool _pool;
    private Entry[] _entries;
    private byte[] _slab;
    private int _slabUsed;
    private int _references;

    internal PacketGroup(PacketGroupPool pool, int capacity)
    {
        _pool = pool;
        _entries = new Entry[capacity];
        _slab = ArrayPool<byte>.Shared.Rent(InitialSlabBytes);
    }

    /// <summary>The stage that published the group.</summary>
    public string Stage => _pool.Stage;

    /// <summary>Increases by one with every group the stage publishes, starting at 1.</summary>
    public long Sequence { get; private set; }

    /// <summary>Packets in the group, 1 to <c>group_size</c>.</summary>
    public int Count { get; private set; }

    /// <summary>Total payload bytes of the group's packets.</summary>
    public int TotalBytes => _slabUsed;

    /// <summary>The packet at <paramref name="index"/>, in order of arrival.</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="index"/> is not below <see cref="Count"/>.</exception>
    public Packet this[int index]
    {
        get
        {
            ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual((uint)index, (uint)Count, nameof(index));
            ref readonly var e = ref _entries[index];
            return new Packet(e.ConnectionId, e.Peer, e.ReceivedAtUtcTicks, e.Fields, new ReadOnlyMemory<byte>(_slab, e.Offset, e.Length));
        }
    }

    /// <summary>Enumerates the packets in order of arrival, without allocating.</summary>
    public Enumerator GetEnumerator() => new(this);

    internal bool IsFull => Count == _entries.Length;

    internal void Reset(long sequence, int capacity)
    {
        Sequence = sequence;
        Count = 0;
        _slabUsed = 0;
        _references = 1;
        if (_entries.Length != capacity)
            _entries = new Entry[capacity];
    }

    internal void Add(ConnectionId id, IPEndPoint peer, long receivedAtUtcTicks, in FrameFields fields, in ReadOnlySequence<byte> payload)
    {
        var length = checked((int)payload.Length);
        EnsureSlab(length);
        payload.CopyTo(_slab.AsSpan(_slabUsed));
        _entries[Count++] = new Entry(id, peer, receivedAtUtcTicks, fields, _slabUsed, length);
        _slabUsed += length;
    }

    internal void Add(ConnectionId id, IPEndPoint peer, long receivedAtUtcTicks, in FrameFields fields, ReadOnlySpan<byte> payload)
    {
        EnsureSlab(payload.Length);
        payload.CopyTo(_slab.AsSpan(_slabUsed));
        _entries[Count++] = new Entry(id, peer, receivedAtUtcTicks, fields, _slabUsed, payload.Length);
        _slabUsed += payload.Length;
    }

    /// <summary>Free slab space of at least <paramref name="bytes"/>, for a receive straight into the group.</summary>
    internal Span<byte> ReserveForReceive(int bytes)
    {
        EnsureSlab(bytes);
        return _slab.AsSpan(_slabUsed, bytes);
    }

    /// <summary>Makes the first <paramref name="length"/> bytes of the last reservation a packet.</summary>
    internal void CommitReceived(ConnectionId id, IPEndPoint peer, long receivedAtUtcTicks, int length)
    {
        _entries[Count++] = new Entry(id, peer, receivedAtUtcTicks, default, _slabUsed, length);
        _slabUsed += length;
    }

    private void EnsureSlab(int more)
    {
        if (_slab.Length - _slabUsed >= more)
            return;
        var bigger = ArrayPool<byte>.Shared.Rent(Math.Max(_slab.Length * 2, _slabUsed + more));
        _slab.AsSpan(0, _slabUsed).CopyTo(bigger);
        ArrayPool<byte>.Shared.Return(_slab);
        _slab = bigger;
    }

    void IRetainable.Retain() => Interlocked.Increment(ref _references);

    void IRetainable.Release() => Release();

    internal void Release()
    {
        var left = Interlocked.Decrement(ref _references);
        if (left > 0)
            return;
        if (left < 0)
            throw new InvalidOperationException("packet group released more often than retained");
        Array.Clear(_entries, 0, Count); // drop peer references
        if (_slab.Length > RetainedSlabBytes)
        {
            ArrayPool<byte>.Shared.Return(_slab);
            _slab = ArrayPool<byte>.Shared.Rent(InitialSlabBytes);
        }
        _pool.Return(this);
    }

    private readonly record struct Entry(ConnectionId ConnectionId, IPEndPoint Peer, long ReceivedAtUtcTicks, FrameFields Fields, int Offset, int Length);

    /// <summary>Allocation-free enumeration of the group's packets.</summary>
    public struct Enumerator(PacketGroup group)
    {
        private int _index = -1;

        /// <summary>The packet at the enumerator's position.</summary>
        public readonly Packet Current => group[_index];

        /// <summary>Moves to the next packet; false after the last.</summary>
        public bool MoveNext() => ++_index < group.Count;
    }
}
