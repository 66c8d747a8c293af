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
    // Not the interface's implementation itself (an implicit one would be a virtual final method): as a plain method, a
    // call on the sealed type (DirectTopic) is an ordinary call whatever the compiler devirtualises, never a generic
    // virtual dispatch resolved by the native type loader at run time. The explicit implementation below forwards.
    public ITopic<T> Topic<T>(string name)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        var topic = _topics.GetOrAdd(name, static n => new InProcessTopic<T>(n));
        return topic as ITopic<T>
            ?? throw new InvalidOperationException($"topic '{name}' carries {TypeText.Of(topic.GetType().GetGenericArguments()[0])}, not {TypeText.Of(typeof(T))}");
    }

    ITopic<T> IMessageBus.Topic<T>(string name) => Topic<T>(name);
}
