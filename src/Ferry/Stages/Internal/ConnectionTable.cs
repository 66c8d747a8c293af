using System.Collections.Concurrent;
using Ferry.Connections;

namespace Ferry.Stages.Internal;

/// <summary>
/// The stage's live connections, three ways: by slot for readiness events (the token's low half), in
/// a dense list for broadcasts and scans, and by id for routing.
/// </summary>
/// <remarks>
/// Lock order: the group registry's notice lock → <see cref="Sync"/> (this table) → the group registry's
/// lock → a connection's egress lock. Only the service thread adds and removes; other threads read the list under
/// <see cref="Sync"/> and look up ids in the concurrent map without it.
/// </remarks>
internal sealed class ConnectionTable
{
    private Connection?[] _bySlot = new Connection?[256];
    private readonly Stack<int> _freeSlots = new();
    private int _slotsUsed;
    private Connection[] _list = new Connection[64];
    private int _count;
    private int _established;
    private uint _generation;
    private readonly ConcurrentDictionary<ConnectionId, Connection> _byId = new();

    /// <summary>Guards the dense list and the established count.</summary>
    public Lock Sync { get; } = new();

    public int Count => Volatile.Read(ref _count);

    /// <summary>Connections whose session handshake is done (all of them for plain framings). Under <see cref="Sync"/>.</summary>
    public int EstablishedCountLocked => _established;

    /// <summary>The live connections, in no order. Under <see cref="Sync"/> (or on the service thread, which alone changes them).</summary>
    public ReadOnlySpan<Connection> ListLocked => _list.AsSpan(0, _count);

    /// <summary>A slot and a generation for a connection about to be created. Service thread.</summary>
    public (int Slot, uint Generation) Reserve()
    {
        var generation = ++_generation & 0x7FFF_FFFFu;
        if (generation == 0)
            generation = _generation = 1;
        var slot = _freeSlots.Count > 0 ? _freeSlots.Pop() : _slotsUsed++;
        if (slot >= _bySlot.Length)
            Array.Resize(ref _bySlot, _bySlot.Length * 2);
        return (slot, generation);
    }

    /// <summary>Gives back a slot that <see cref="Reserve"/> handed out but no connection took.</summary>
    public void Unreserve(int slot) => _freeSlots.Push(slot);

    /// <summary>Adds a connection in its reserved slot. Service thread.</summary>
    public void Add(Connection c)
    {
        _bySlot[c.Slot] = c;
        lock (Sync)
        {
            if (_count == _list.Length)
                Array.Resize(ref _list, _list.Length * 2);
            c.Index = _count;
            _list[_count] = c;
            Volatile.Write(ref _count, _count + 1);
        }
        _byId[c.Id] = c;
    }

    /// <summary>Marks a connection ready for messages. Under <see cref="Sync"/>.</summary>
    public void EstablishLocked(Connection c)
    {
        c.Established = true;
        _established++;
    }

    /// <summary>Whether the connection is still the live one in its slot (false once removed).</summary>
    public bool IsLive(Connection c) => (uint)c.Slot < (uint)_bySlot.Length && _bySlot[c.Slot] == c;

    /// <summary>The connection a readiness token names, or null when it has closed since (a stale event).</summary>
    public Connection? FromToken(long token)
    {
        var slot = (int)(token & 0xFFFF_FFFF);
        var c = (uint)slot < (uint)_bySlot.Length ? _bySlot[slot] : null;
        return c is not null && c.Generation == (uint)(token >> 32) ? c : null;
    }

    /// <summary>Takes a connection out of the slot map and the id map (the list entry goes in <see cref="RemoveLocked"/>). Service thread.</summary>
    public void Detach(Connection c)
    {
        _bySlot[c.Slot] = null;
        _freeSlots.Push(c.Slot);
        _byId.TryRemove(c.Id, out _);
    }

    /// <summary>Takes a connection out of the list. Under <see cref="Sync"/>, service thread.</summary>
    public void RemoveLocked(Connection c)
    {
        var last = _list[_count - 1];
        _list[c.Index] = last;
        last.Index = c.Index;
        _list[_count - 1] = null!;
        Volatile.Write(ref _count, _count - 1);
        if (c.Established)
            _established--;
    }

    public bool TryGet(ConnectionId id, out Connection connection) => _byId.TryGetValue(id, out connection!);

    public bool Contains(ConnectionId id) => _byId.ContainsKey(id);

    /// <summary>A copy of the live connections (any thread).</summary>
    public Connection[] Snapshot()
    {
        lock (Sync)
            return _list.AsSpan(0, _count).ToArray();
    }

    /// <summary>The established connections (any thread).</summary>
    public Connection[] SnapshotEstablished(out bool none)
    {
        lock (Sync)
        {
            none = _established == 0;
            return none ? [] : _list.AsSpan(0, _count).ToArray();
        }
    }

    /// <summary>The bytes written by live connections. Under <see cref="Sync"/>, or on the service thread.</summary>
    public long SumBytesOutUnlocked()
    {
        long total = 0;
        for (var i = 0; i < _count; i++)
            total += _list[i].BytesOut;
        return total;
    }
}
