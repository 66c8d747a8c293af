namespace Ferry.Bus;

/// <summary>A handler that runs on the publisher's thread, inside <see cref="ITopic{T}.PublishAsync"/>.</summary>
/// <remarks>It must be quick: a stage's service thread is waiting on it. Data it is given (packet payloads)
/// is valid only until it returns, or until the returned task completes.</remarks>
public delegate ValueTask MessageHandler<in T>(T message, CancellationToken cancellationToken);

/// <summary>One named, typed channel of the bus.</summary>
public interface ITopic<T>
{
    /// <summary>The topic's name, e.g. <c>tcp_server/packet_group</c>.</summary>
    string Name { get; }

    /// <summary>Inline handlers plus queue subscriptions now attached.</summary>
    int SubscriberCount { get; }

    /// <summary>
    /// Delivers the message to every subscriber: runs inline handlers, and enqueues it for queue
    /// subscriptions, waiting while any of their queues is full. With no subscriber the message is
    /// dropped. Completes when every subscriber has it.
    /// </summary>
    /// <remarks>
    /// Subscribers are independent: one that throws (or whose task faults) misses the message alone. The
    /// in-process bus still runs every later handler and fills every queue, then fails the publish with
    /// what was thrown: the exception itself when one subscriber failed, an <see cref="AggregateException"/>
    /// holding each when several did.
    /// </remarks>
    ValueTask PublishAsync(T message, CancellationToken cancellationToken = default);

    /// <summary>Adds a handler run inline by every publish. Dispose the result to detach.</summary>
    IDisposable Subscribe(MessageHandler<T> handler);

    /// <summary>
    /// Adds a subscription with its own bounded queue: publishers wait while it holds
    /// <paramref name="capacity"/> messages, which is how a slow consumer slows its producers down.
    /// </summary>
    ISubscription<T> SubscribeQueue(int capacity = 1024);
}
