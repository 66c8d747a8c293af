using System.Buffers;
using System.Net;
using Ferry.Bus;
using Ferry.Connections;
using Ferry.Framing;
using Ferry.Stages.Internal;

namespace Ferry.Stages;

/// <summary>
/// Up to <c>group_size</c> packets, from any mix of connections, published as one message on
/// <c>&lt;stage&gt;/packet_group</c>. A group is valid while a handler runs, or, for a queue
/// subscription, until the reader takes the next message. After that its buffers are reused for other
/// messages, and reading the group, one of its packets' <see cref="Packet.Payload"/> or anything made
/// from one (a <see cref="System.Text.Json.JsonDocument"/> parsed from it) throws
/// <see cref="ObjectDisposedException"/>: a kept payload can never show another message's bytes.
/// </summary>
/// <remarks>
/// To keep data, say so: <c>packet.Payload.ToArray()</c> copies one payload; <see cref="Retain"/> keeps
/// the whole group valid until the lease it returns is disposed. Reading a group is safe from several
/// threads while it is valid.
/// </remarks>
public sealed class PacketGroup : IRetainable
{
    private readonly PacketGroupPool _pool;
    private PacketStorage? _storage;
    private PayloadView? _view;
    private int _references = 1;

    internal PacketGroup(PacketGroupPool pool, PacketStorage storage, long sequence)
    {
        _pool = pool;
        _storage = storage;
        Sequence = sequence;
    }

    /// <summary>The stage that published the group.</summary>
    public string Stage => _pool.Stage;

    /// <summary>Increases by one with every group the stage publishes, starting at 1.</summary>
    public long Sequence { get; }

    /// <summary>Packets in the group, 1 to <c>group_size</c>.</summary>
    /// <exception cref="ObjectDisposedException">The group's life has ended (see <see cref="PacketGroup"/>).</exception>
    public int Count => Live.Count;

    /// <summary>Total payload bytes of the group's packets.</summary>
    /// <exception cref="ObjectDisposedException">The group's life has ended.</exception>
    public int TotalBytes => Live.Used;

    /// <summary>Whether the group's life has ended: reading it, its packets or their payloads now throws.</summary>
    public bool IsReleased => Volatile.Read(ref _storage) is null;

    /// <summary>
    /// The packet at <paramref name="index"/>, in order of arrival. Its <see cref="Packet.Payload"/>
    /// is valid only while the group is: copy it (<c>Payload.ToArray()</c>) or <see cref="Retain"/> the
    /// group to keep it.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="index"/> is not below <see cref="Count"/>.</exception>
    /// <exception cref="ObjectDisposedException">The group's life has ended.</exception>
    public Packet this[int index]
    {
        get
        {
            var storage = Live;
            ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual((uint)index, (uint)storage.Count, nameof(index));
            ref readonly var e = ref storage[index];
            return new Packet(e.ConnectionId, e.Peer, e.ReceivedAtUtcTicks, e.Fields, View.Slice(e.Offset, e.Length));
        }
    }

    /// <summary>Enumerates the packets in order of arrival, without allocating.</summary>
    public Enumerator GetEnumerator() => new(this);

    /// <summary>
    /// Keeps the group, its packets and their payloads valid past the handler (or the next queue read)
    /// until the returned lease is disposed. Dispose it exactly when done: the group's buffers go back
    /// to the pool only then.
    /// </summary>
    /// <exception cref="ObjectDisposedException">The group's life has already ended.</exception>
    public IDisposable Retain() => HoldCount.TryAdd(ref _references) ? new Lease(this) : throw Released();

    private PacketStorage Live => Volatile.Read(ref _storage) ?? throw Released();

    private PayloadView View
    {
        get
        {
            var view = Volatile.Read(ref _view);
            if (view is not null)
                return view;
            // Readers on several threads may race here; they all end up with the one view that won.
            Interlocked.CompareExchange(ref _view, new PayloadView(this), null);
            return _view!;
        }
    }

    internal byte[] SlabOrThrow() => Live.Slab;

    internal PacketStorage Storage => _storage!;

    internal bool IsFull => _storage!.IsFull;

    internal void Add(ConnectionId id, IPEndPoint peer, long receivedAtUtcTicks, in FrameFields fields, in ReadOnlySequence<byte> payload)
        => _storage!.Add(id, peer, receivedAtUtcTicks, fields, payload);

    internal void Add(ConnectionId id, IPEndPoint peer, long receivedAtUtcTicks, in FrameFields fields, ReadOnlySpan<byte> payload)
        => _storage!.Add(id, peer, receivedAtUtcTicks, fields, payload);

    internal Span<byte> ReserveForReceive(int bytes) => _storage!.ReserveForReceive(bytes);

    internal void CommitReceived(ConnectionId id, IPEndPoint peer, long receivedAtUtcTicks, int length)
        => _storage!.CommitReceived(id, peer, receivedAtUtcTicks, length);

    void IRetainable.Retain() => Interlocked.Increment(ref _references);

    void IRetainable.Release() => Release();

    internal void Release()
    {
        var left = Interlocked.Decrement(ref _references);
        if (left > 0)
            return;
        if (left < 0)
            throw new InvalidOperationException("packet group released more often than retained");
        var storage = Interlocked.Exchange(ref _storage, null)!;
        storage.Clear();
        _pool.Return(storage);
    }

    private ObjectDisposedException Released()
        => new(nameof(PacketGroup), $"packet group {Sequence} of stage '{Stage}' was released when its handler returned (or its queue reader moved on); " +
            "copy what you keep (Payload.ToArray()) or call Retain() on the group and dispose the lease when done");

    /// <summary>Gives up one hold on the group, once.</summary>
    private sealed class Lease(PacketGroup group) : IDisposable
    {
        private PacketGroup? _group = group;

        public void Dispose() => Interlocked.Exchange(ref _group, null)?.Release();
    }

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
