using System.Collections.Concurrent;

namespace Ferry.Bus;

/// <summary>The default bus: topics live in this process; publishing costs a handler call or a queue write.
/// Thread-safe: topics may be created, published to and subscribed to from any thread.</summary>
public sealed class InProcessBus : IMessageBus
{
    private readonly ConcurrentDictionary<string, object> _topics = new(StringComparer.Ordinal);

    /// <inheritdoc/>
    /// <exception cref="ArgumentException"><paramref name="name"/> is null, empty or white space.</exception>
    /// <exception cref="InvalidOperationException">The topic exists with another message type.</exception>
    public ITopic<T> Topic<T>(string name)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        var topic = _topics.GetOrAdd(name, static n => new InProcessTopic<T>(n));
        return topic as ITopic<T>
            ?? throw new InvalidOperationException($"topic '{name}' carries {topic.GetType().GetGenericArguments()[0].Name}, not {typeof(T).Name}");
    }
}
