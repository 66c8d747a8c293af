using System.Collections.Concurrent;

namespace Ferry.Stages;

/// <summary>Recycles a stage's packet groups; bounded so a burst of slow subscribers cannot pin memory.</summary>
internal sealed class PacketGroupPool(string stage, int groupSize, int maxPooled = 64)
{
    private readonly ConcurrentBag<PacketGroup> _free = [];
    private int _freeCount;

    public string Stage { get; } = stage;

    public PacketGroup Rent(long sequence)
    {
        if (_free.TryTake(out var group))
            Interlocked.Decrement(ref _freeCount);
        else
            group = new PacketGroup(this, groupSize);
        group.Reset(sequence, groupSize);
        return group;
    }

    public void Return(PacketGroup group)
    {
        if (Interlocked.Increment(ref _freeCount) <= maxPooled)
            _free.Add(group);
        else
            Interlocked.Decrement(ref _freeCount);
    }
}
