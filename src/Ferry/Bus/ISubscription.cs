namespace Ferry.Bus;

/// <summary>
/// A bounded queue of one topic's messages, read in order. Pooled messages (packet groups) stay
/// valid until the reader's next read: copy what you keep.
/// </summary>
/// <remarks>One reader at a time: reads are not safe to call concurrently. Dispose (from any thread) to detach
/// from the topic; messages still queued are released and publishers waiting on the queue go on. The message
/// the reader holds is not released by a dispose (the reader may still be reading it on another thread): its
/// next read releases it and finds the subscription closed, as does the end of an <c>await foreach</c>.</remarks>
public interface ISubscription<T> : IAsyncEnumerable<T>, IDisposable
{
    /// <summary>Messages waiting in the queue.</summary>
    int Count { get; }

    /// <summary>Takes the next message, waiting until one is published. Releases the message read before.</summary>
    /// <exception cref="System.Threading.Channels.ChannelClosedException">The subscription was disposed.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled while waiting.</exception>
    ValueTask<T> ReadAsync(CancellationToken cancellationToken = default);

    /// <summary>Takes the next message if one is queued; false at once otherwise. Releases the message read before.</summary>
    bool TryRead(out T message);
}
