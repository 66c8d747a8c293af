using System.Runtime.CompilerServices;
using Ferry.Bus;

namespace Ferry.Stages.Internal;

/// <summary>
/// A stage's hold on its name on one bus. A stage's topics are named after it (<see cref="StageTopics"/>), so a second
/// stage of the same name on the same bus would share them: the packets of both in one topic, and every egress, control
/// command and "any one" message delivered to both. That is never what was meant (two stages left with the default name
/// is the usual way to get there), so the second stage is refused instead of merged. Names that differ only in case are
/// one name here: a configuration's keys (appsettings' <c>Stages:pos</c>, <c>FERRY__STAGES__POS__…</c>, <c>--set stages.pos…</c>)
/// ignore case, so two such stages could not be told apart there, and neither could their JetStream streams on a file system
/// that ignores case.
/// </summary>
/// <remarks>
/// The names are kept per bus instance in a <see cref="ConditionalWeakTable{TKey, TValue}"/>, so a bus that is no longer
/// referenced takes its names with it, and any <see cref="IMessageBus"/> implementation is covered, not only
/// <see cref="InProcessBus"/>. A stage holds its name while it is subscribed to its topics: from its construction until
/// its service loop ends (a stop), or until it is disposed when it never started.
/// </remarks>
internal sealed class StageNameClaim : IDisposable
{
    private static readonly ConditionalWeakTable<IMessageBus, HashSet<string>> Taken = new();

    private static HashSet<string> NewNames(IMessageBus _) => new(StringComparer.OrdinalIgnoreCase);

    private readonly HashSet<string> _names;
    private readonly string _name;
    private int _released;

    private StageNameClaim(HashSet<string> names, string name)
    {
        _names = names;
        _name = name;
    }

    /// <exception cref="InvalidOperationException">Another stage holds <paramref name="name"/> on <paramref name="bus"/>.</exception>
    public static StageNameClaim Take(IMessageBus bus, string name)
    {
        var names = Taken.GetValue(bus, NewNames);
        lock (names)
        {
            if (!names.Add(name))
            {
                names.TryGetValue(name, out var held);
                var why = held == name
                    ? $"a stage named '{name}' already runs on this bus: stage names must be unique per bus, or their topics '{name}/…' would merge " +
                      "(packets of both in one topic, egress sent to both)"
                    : $"a stage named '{held}' already runs on this bus, the same name as '{name}' but for case: stage names must be unique per bus, " +
                      "ignoring case, as a configuration's keys and environment variables ignore it (the two could not be told apart there)";
                throw new InvalidOperationException(
                    $"{why}; give this stage another Name, or stop the other stage first " +
                    "(a stage keeps its name until it has stopped, or until it is disposed if it never started)");
            }
        }
        return new StageNameClaim(names, name);
    }

    /// <summary>Gives the name back; idempotent.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _released, 1) != 0)
            return;
        lock (_names)
            _names.Remove(_name);
    }
}
