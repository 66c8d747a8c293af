using System.Collections.Concurrent;

namespace Ferry.Bus;

/// <summary>The default bus: topics live in this process; publishing costs a handler call or a queue write.</summary>
public sealed class InProcessBus : IMessageBus
{
    private readonly ConcurrentDictionary<string, object> _topics = new(StringComparer.Ordinal);

    public ITopic<T> Topic<T>(string name)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        var topic = _topics.GetOrAdd(name, static n => new InProcessTopic<T>(n));
        return topic as ITopic<T>
            ?? throw new InvalidOperationException($"topic '{name}' carries {topic.GetType().GetGenericArguments()[0].Name}, not {typeof(T).Name}");
    }
}
