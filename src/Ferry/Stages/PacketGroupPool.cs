using System.Collections.Concurrent;
using Ferry.Stages.Internal;

namespace Ferry.Stages;

/// <summary>
/// Recycles a stage's packet storage (entries and slab); bounded so a burst of slow subscribers cannot
/// pin memory. Each publication gets a new <see cref="PacketGroup"/> over recycled storage, so a group
/// kept too long fails loudly instead of showing the next one's packets.
/// </summary>
internal sealed class PacketGroupPool(string stage, int groupSize, int maxPooled = 64)
{
    private readonly ConcurrentBag<PacketStorage> _free = [];
    private int _freeCount;

    public string Stage { get; } = stage;

    public PacketGroup Rent(long sequence)
    {
        if (_free.TryTake(out var storage))
            Interlocked.Decrement(ref _freeCount);
        else
            storage = new PacketStorage(groupSize);
        storage.Reset(groupSize);
        return new PacketGroup(this, storage, sequence);
    }

    public void Return(PacketStorage storage)
    {
        if (Interlocked.Increment(ref _freeCount) <= maxPooled)
            _free.Add(storage);
        else
            Interlocked.Decrement(ref _freeCount);
    }
}
