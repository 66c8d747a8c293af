namespace Ferry.Bus;

/// <summary>
/// A bounded queue of one topic's messages, read in order. Pooled messages (packet groups) stay
/// valid until the next read, or until the subscription is disposed: copy what you keep.
/// </summary>
public interface ISubscription<T> : IAsyncEnumerable<T>, IDisposable
{
    /// <summary>Messages waiting in the queue.</summary>
    int Count { get; }

    ValueTask<T> ReadAsync(CancellationToken cancellationToken = default);

    bool TryRead(out T message);
}
