using System.Buffers;
using System.Collections.Concurrent;
using Ferry.Framing;

namespace Ferry.Stages.Internal;

/// <summary>
/// The reusable part of an <see cref="InboxBatch"/>: the slab its messages' bytes sit in and their
/// entries. Taken on the service thread, given back from handlers' threads, so it is pooled process-wide
/// in a small bounded queue rather than by <see cref="ArrayPool{T}.Shared"/>, whose per-thread caches miss
/// when every rent is on one thread and every return on others. What the pool keeps is bounded: at most
/// <see cref="MaxPooled"/> storages with slabs of at most <see cref="RetainedSlabBytes"/> (bigger slabs go back to
/// the shared array pool), so a burst of large reads does not stay in memory.
/// </summary>
internal sealed class InboxStorage
{
    private const int MaxPooled = 128;
    private const int RetainedSlabBytes = 16 * 1024;
    private const int RetainedEntries = 256;
    private const int MinSlabBytes = 1024;
    private const int MinEntries = 16;

    private static readonly ConcurrentQueue<InboxStorage> Free = new();
    private static int _freeCount;

    private InboxStorage()
    {
    }

    public byte[] Slab { get; private set; } = [];

    public Entry[] Entries { get; private set; } = new Entry[MinEntries];

    /// <summary>A storage whose slab holds at least <paramref name="bytes"/>.</summary>
    public static InboxStorage Rent(int bytes)
    {
        if (Free.TryDequeue(out var storage))
            Interlocked.Decrement(ref _freeCount);
        else
            storage = new InboxStorage();
        if (storage.Slab.Length < bytes)
            storage.GrowSlab(0, bytes);
        return storage;
    }

    /// <summary>Replaces the slab with one of at least <paramref name="bytes"/>, keeping the first <paramref name="used"/> bytes.</summary>
    public void GrowSlab(int used, int bytes)
    {
        var bigger = ArrayPool<byte>.Shared.Rent(Math.Max(Math.Max(bytes, Slab.Length * 2), MinSlabBytes));
        Slab.AsSpan(0, used).CopyTo(bigger);
        if (Slab.Length > 0)
            ArrayPool<byte>.Shared.Return(Slab);
        Slab = bigger;
    }

    /// <summary>Doubles the entries, keeping the first <paramref name="count"/>.</summary>
    public void GrowEntries(int count)
    {
        var bigger = new Entry[Entries.Length * 2];
        Entries.AsSpan(0, count).CopyTo(bigger);
        Entries = bigger;
    }

    /// <summary>Gives the storage back: kept for the next batch, or its slab to the shared pool when too big or the pool is full.</summary>
    public static void Return(InboxStorage storage)
    {
        if (storage.Slab.Length > RetainedSlabBytes)
        {
            ArrayPool<byte>.Shared.Return(storage.Slab);
            storage.Slab = [];
        }
        if (storage.Entries.Length > RetainedEntries)
            storage.Entries = new Entry[MinEntries];
        if (Interlocked.Increment(ref _freeCount) > MaxPooled)
        {
            Interlocked.Decrement(ref _freeCount);
            if (storage.Slab.Length > 0)
                ArrayPool<byte>.Shared.Return(storage.Slab);
            return;
        }
        Free.Enqueue(storage);
    }

    /// <summary>One message's place in the slab and what came with it.</summary>
    public readonly record struct Entry(int Offset, int Length, FrameFields Fields, long ReceivedAtUtcTicks);
}
