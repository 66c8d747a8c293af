using System.Buffers;
using System.Net;
using Ferry.Connections;
using Ferry.Framing;

namespace Ferry.Stages.Internal;

/// <summary>
/// The pooled part of a packet group: the packets' entries and the one rented slab their payloads sit
/// in. Reused from group to group; the <see cref="PacketGroup"/> handed to subscribers is new for every
/// publication, so a group kept past its life finds its storage gone instead of someone else's bytes.
/// Filled on the service thread; read by subscribers while its group is alive.
/// </summary>
internal sealed class PacketStorage
{
    private const int InitialSlabBytes = 4096;
    // Slabs above this go back to the shared pool when the storage is recycled, so that one burst of
    // big packets does not pin memory for the life of the stage.
    private const int RetainedSlabBytes = 256 * 1024;

    private Entry[] _entries;
    private byte[] _slab;

    public PacketStorage(int capacity)
    {
        _entries = new Entry[capacity];
        _slab = ArrayPool<byte>.Shared.Rent(InitialSlabBytes);
    }

    public int Count { get; private set; }

    public int Used { get; private set; }

    public byte[] Slab => _slab;

    public bool IsFull => Count == _entries.Length;

    public ref readonly Entry this[int index] => ref _entries[index];

    public void Reset(int capacity)
    {
        Count = 0;
        Used = 0;
        if (_entries.Length != capacity)
            _entries = new Entry[capacity];
    }

    public void Add(ConnectionId id, IPEndPoint peer, long receivedAtUtcTicks, in FrameFields fields, in ReadOnlySequence<byte> payload)
    {
        var length = checked((int)payload.Length);
        EnsureSlab(length);
        payload.CopyTo(_slab.AsSpan(Used));
        _entries[Count++] = new Entry(id, peer, receivedAtUtcTicks, fields, Used, length);
        Used += length;
    }

    public void Add(ConnectionId id, IPEndPoint peer, long receivedAtUtcTicks, in FrameFields fields, ReadOnlySpan<byte> payload)
    {
        EnsureSlab(payload.Length);
        payload.CopyTo(_slab.AsSpan(Used));
        _entries[Count++] = new Entry(id, peer, receivedAtUtcTicks, fields, Used, payload.Length);
        Used += payload.Length;
    }

    /// <summary>Free slab space of at least <paramref name="bytes"/>, for a receive straight into the group.</summary>
    public Span<byte> ReserveForReceive(int bytes)
    {
        EnsureSlab(bytes);
        return _slab.AsSpan(Used, bytes);
    }

    /// <summary>Makes the first <paramref name="length"/> bytes of the last reservation a packet.</summary>
    public void CommitReceived(ConnectionId id, IPEndPoint peer, long receivedAtUtcTicks, int length)
    {
        _entries[Count++] = new Entry(id, peer, receivedAtUtcTicks, default, Used, length);
        Used += length;
    }

    /// <summary>Forgets the packets (and the peers they reference) before the storage goes back to the pool.</summary>
    public void Clear()
    {
        Array.Clear(_entries, 0, Count);
        Count = 0;
        Used = 0;
        if (_slab.Length > RetainedSlabBytes)
        {
            ArrayPool<byte>.Shared.Return(_slab);
            _slab = ArrayPool<byte>.Shared.Rent(InitialSlabBytes);
        }
    }

    private void EnsureSlab(int more)
    {
        if (_slab.Length - Used >= more)
            return;
        var bigger = ArrayPool<byte>.Shared.Rent(Math.Max(_slab.Length * 2, Used + more));
        _slab.AsSpan(0, Used).CopyTo(bigger);
        ArrayPool<byte>.Shared.Return(_slab);
        _slab = bigger;
    }

    public readonly record struct Entry(ConnectionId ConnectionId, IPEndPoint Peer, long ReceivedAtUtcTicks, FrameFields Fields, int Offset, int Length);
}
