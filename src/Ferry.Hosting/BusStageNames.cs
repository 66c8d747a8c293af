using System.Runtime.CompilerServices;
using Ferry.Bus;

namespace Ferry.Hosting;

/// <summary>
/// The stage names in use on each bus, so a second stage with a name already taken on the same bus
/// (another host, another <c>AddFerry</c>) fails with a clear error instead of merging its topics.
/// </summary>
public static class BusStageNames
{
    private static readonly ConditionalWeakTable<IMessageBus, HashSet<string>> Names = new();

    /// <summary>Claims <paramref name="name"/> on <paramref name="bus"/>.</summary>
    /// <exception cref="InvalidOperationException">The name is already in use on that bus.</exception>
    public static void Claim(IMessageBus bus, string name)
    {
        var names = Names.GetOrCreateValue(bus);
        lock (names)
            if (!names.Add(name))
                throw new InvalidOperationException($"a stage named '{name}' already runs on this bus; stage names must be unique per bus (their topics '{name}/…' would merge)");
    }

    /// <summary>Gives <paramref name="name"/> back (the stage stopped).</summary>
    public static void Release(IMessageBus bus, string name)
    {
        if (Names.TryGetValue(bus, out var names))
            lock (names)
                names.Remove(name);
    }
}
