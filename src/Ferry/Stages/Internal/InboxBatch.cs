using System.Buffers;
using System.Runtime.InteropServices;
using Ferry.Framing;

namespace Ferry.Stages.Internal;

/// <summary>
/// The messages one read of a connection decoded to, handed to its handler as one inbox item: their
/// bytes sit back to back in one rented slab, their fields in one rented array. It is also what every
/// <see cref="ConnectionMessage.Payload"/> of the batch points at: <see cref="ReadOnlyMemory{T}.Span"/>
/// asks <see cref="GetSpan"/> each time, so once the batch is released (the handler's enumerator moved
/// past it and nothing retained it) a kept payload throws <see cref="ObjectDisposedException"/> instead of
/// showing whatever the recycled slab holds now. One object per read, never reused for that reason.
/// </summary>
/// <remarks>Filled by the service thread before it is queued; read, retained and released by the handler's
/// side (any thread) afterwards.</remarks>
internal sealed class InboxBatch : MemoryManager<byte>
{
    /// <summary>The slab and entries; null once the batch is released.</summary>
    private InboxStorage? _storage;
    private int _used;
    /// <summary>Holds on the batch: the enumerator's, plus one per <see cref="Retain"/> lease.</summary>
    private int _references = 1;

    /// <param name="expectedBytes">What the read holds: the payloads of its messages fit in that, so the slab never grows.</param>
    public InboxBatch(int expectedBytes) => _storage = InboxStorage.Rent(expectedBytes);

    /// <summary>Messages in the batch.</summary>
    public int Count { get; private set; }

    /// <summary>The payload bytes of its messages.</summary>
    public int Bytes => _used;

    /// <summary>Adds a copy of one message. Service thread, before the batch is queued.</summary>
    public void Add(ReadOnlySpan<byte> payload, in FrameFields fields, long receivedAtUtcTicks)
    {
        payload.CopyTo(Reserve(payload.Length));
        Added(payload.Length, fields, receivedAtUtcTicks);
    }

    /// <inheritdoc cref="Add(ReadOnlySpan{byte}, in FrameFields, long)"/>
    public void Add(in ReadOnlySequence<byte> payload, in FrameFields fields, long receivedAtUtcTicks)
    {
        var length = checked((int)payload.Length);
        payload.CopyTo(Reserve(length));
        Added(length, fields, receivedAtUtcTicks);
    }

    private Span<byte> Reserve(int length)
    {
        var storage = _storage!;
        // The read's size was a hint only (a frame kept from the read before adds to it).
        if (storage.Slab.Length - _used < length)
            storage.GrowSlab(_used, _used + length);
        return storage.Slab.AsSpan(_used, length);
    }

    private void Added(int length, in FrameFields fields, long receivedAtUtcTicks)
    {
        var storage = _storage!;
        if (Count == storage.Entries.Length)
            storage.GrowEntries(Count);
        storage.Entries[Count++] = new InboxStorage.Entry(_used, length, fields, receivedAtUtcTicks);
        _used += length;
    }

    /// <summary>The message at <paramref name="index"/>; valid while the batch is.</summary>
    public ConnectionMessage this[int index]
    {
        get
        {
            ref readonly var e = ref _storage!.Entries[index];
            return new ConnectionMessage(this, CreateMemory(e.Offset, e.Length), e.Fields, e.ReceivedAtUtcTicks);
        }
    }

    /// <summary>Adds a hold on the batch; the returned lease gives it up once.</summary>
    /// <exception cref="ObjectDisposedException">The batch was already released.</exception>
    public IDisposable Retain() => HoldCount.TryAdd(ref _references) ? new Lease(this) : throw Released();

    /// <summary>Gives up one hold; the last one returns the slab and the entries to their pools.</summary>
    public void Release()
    {
        var left = Interlocked.Decrement(ref _references);
        if (left > 0)
            return;
        if (left < 0)
            throw new InvalidOperationException("inbox batch released more often than retained");
        InboxStorage.Return(Interlocked.Exchange(ref _storage, null)!);
    }

    public override Span<byte> GetSpan() => (Volatile.Read(ref _storage) ?? throw Released()).Slab;

    public override unsafe MemoryHandle Pin(int elementIndex = 0)
    {
        var slab = (Volatile.Read(ref _storage) ?? throw Released()).Slab;
        ArgumentOutOfRangeException.ThrowIfGreaterThan((uint)elementIndex, (uint)slab.Length, nameof(elementIndex));
        var handle = GCHandle.Alloc(slab, GCHandleType.Pinned);
        return new MemoryHandle((byte*)handle.AddrOfPinnedObject() + elementIndex, handle);
    }

    public override void Unpin()
    {
        // The GCHandle in the MemoryHandle is freed when the handle is disposed.
    }

    protected override void Dispose(bool disposing)
    {
        // Nothing here: the slab's life is the batch's holds (Release), not the memory manager's.
    }

    private static ObjectDisposedException Released()
        => new(nameof(ConnectionMessage), "this connection message's bytes were released when the handler's ReadAsync loop moved on to the next message; " +
            "copy what you keep (message.ToArray()) or call message.Retain() and dispose the lease when done");

    /// <summary>Gives up one hold on the batch, once.</summary>
    private sealed class Lease(InboxBatch batch) : IDisposable
    {
        private InboxBatch? _batch = batch;

        public void Dispose() => Interlocked.Exchange(ref _batch, null)?.Release();
    }
}
