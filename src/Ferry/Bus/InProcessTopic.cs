namespace Ferry.Bus;

internal sealed class InProcessTopic<T>(string name) : ITopic<T>
{
    private static readonly bool IsRetainable = typeof(IRetainable).IsAssignableFrom(typeof(T));

    private readonly Lock _gate = new();
    // Copy-on-write: publishing reads these without a lock and without allocating.
    private MessageHandler<T>[] _handlers = [];
    private QueueSubscription<T>[] _queues = [];

    public string Name { get; } = name;

    public int SubscriberCount => Volatile.Read(ref _handlers).Length + Volatile.Read(ref _queues).Length;

    /// <summary>
    /// Told when an inline handler returns a task that has not completed: its publisher (a stage's
    /// service thread) is about to wait for it. Stages set it to warn about inline handlers that await.
    /// </summary>
    internal Action<MessageHandler<T>>? InlineHandlerPending { get; set; }

    /// <remarks>
    /// Each subscriber is isolated: a handler that throws, or whose task faults, misses the message alone;
    /// the later handlers and every queue still get it, and the publish then fails with what was thrown
    /// (several failures as one <see cref="SubscriberFailures"/>). A try around each handler call costs
    /// nothing while nothing throws, so the common path stays allocation-free.
    /// </remarks>
    public ValueTask PublishAsync(T message, CancellationToken cancellationToken = default)
    {
        var handlers = Volatile.Read(ref _handlers);
        var queues = Volatile.Read(ref _queues);
        // One handler and no queue (a stage's route, an echo): nobody else to keep the message for, so its
        // failure is the publish's own. Kept free of a try, which would stop the JIT from inlining this
        // into the stage's publish (once per packet group).
        if (handlers.Length == 1 && queues.Length == 0)
        {
            var pending = handlers[0](message, cancellationToken);
            if (pending.IsCompletedSuccessfully)
                return default;
            if (!pending.IsCompleted)
            {
                InlineHandlerPending?.Invoke(handlers[0]);
                return AwaitHandler(pending, cancellationToken);
            }
            return pending;
        }
        return PublishIsolated(message, handlers, queues, cancellationToken);
    }

    private ValueTask PublishIsolated(T message, MessageHandler<T>[] handlers, QueueSubscription<T>[] queues, CancellationToken cancellationToken)
    {
        for (var i = 0; i < handlers.Length; i++)
        {
            ValueTask pending;
            try
            {
                pending = handlers[i](message, cancellationToken);
            }
            catch (Exception ex)
            {
                // The slow path carries the failure to the end and goes on with the next handler and the queues.
                return PublishSlowAsync(message, ValueTask.FromException(ex), handlers, queues, i + 1, 0, cancellationToken);
            }
            if (!pending.IsCompletedSuccessfully)
            {
                if (!pending.IsCompleted)
                    InlineHandlerPending?.Invoke(handlers[i]);
                return PublishSlowAsync(message, pending, handlers, queues, i + 1, 0, cancellationToken);
            }
        }
        for (var q = 0; q < queues.Length; q++)
        {
            if (!queues[q].TryEnqueue(message))
                return PublishSlowAsync(message, default, handlers, queues, handlers.Length, q, cancellationToken);
        }
        return default;
    }

    /// <summary>
    /// The rest of a publish once a handler has not completed at once (still running, faulted or thrown) or a
    /// queue is full: waits for it, then delivers to the handlers from <paramref name="nextHandler"/> and the
    /// queues from <paramref name="nextQueue"/>, each on its own, and throws what failed at the end.
    /// </summary>
    private async ValueTask PublishSlowAsync(T message, ValueTask pending, MessageHandler<T>[] handlers,
        QueueSubscription<T>[] queues, int nextHandler, int nextQueue, CancellationToken cancellationToken)
    {
        List<Exception>? failures = null;
        try
        {
            await AwaitHandler(pending, cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException ex) when (cancellationToken.IsCancellationRequested)
        {
            SubscriberFailures.Throw(Name, [ex]);
        }
        catch (Exception ex)
        {
            (failures ??= []).Add(ex);
        }
        for (var i = nextHandler; i < handlers.Length; i++)
        {
            try
            {
                var next = handlers[i](message, cancellationToken);
                if (!next.IsCompleted)
                    InlineHandlerPending?.Invoke(handlers[i]);
                await AwaitHandler(next, cancellationToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException ex) when (cancellationToken.IsCancellationRequested)
            {
                // The publisher stopped waiting (a stage's forced stop): the handler is left to finish on its own, and
                // the subscribers after it miss the message, as the queues do below.
                (failures ??= []).Add(ex);
                SubscriberFailures.Throw(Name, failures);
            }
            catch (Exception ex)
            {
                (failures ??= []).Add(ex);
            }
        }
        for (var q = nextQueue; q < queues.Length; q++)
        {
            try
            {
                await queues[q].EnqueueAsync(message, cancellationToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException ex) when (cancellationToken.IsCancellationRequested)
            {
                // The publisher stopped waiting for room: the queues not reached yet miss the message.
                (failures ??= []).Add(ex);
                break;
            }
            catch (Exception ex)
            {
                (failures ??= []).Add(ex);
            }
        }
        if (failures is not null)
            SubscriberFailures.Throw(Name, failures);
    }

    /// <summary>
    /// Waits for an inline handler that did not complete at once, or until <paramref name="cancellationToken"/> is cancelled:
    /// a handler that ignores its token must not hold its publisher for ever (a stage's stop, whose grace period cancels it).
    /// The handler is then left to finish on its own.
    /// </summary>
    private static ValueTask AwaitHandler(ValueTask pending, CancellationToken cancellationToken)
        => pending.IsCompleted || !cancellationToken.CanBeCanceled ? pending : new ValueTask(pending.AsTask().WaitAsync(cancellationToken));

    public IDisposable Subscribe(MessageHandler<T> handler)
    {
        ArgumentNullException.ThrowIfNull(handler);
        lock (_gate)
            _handlers = [.. _handlers, handler];
        return new Unsubscriber(() =>
        {
            lock (_gate)
                _handlers = WithoutOne(_handlers, handler);
        });
    }

    /// <summary>
    /// <paramref name="handlers"/> less one entry of <paramref name="handler"/>: the one subscription being disposed. Delegates
    /// compare by value (the same method on the same target), so removing every equal one would also detach the other
    /// subscriptions of that handler (a method group subscribed twice), which would then miss every message, silently. The
    /// subscription's own delegate instance is taken (each method-group conversion makes a new one), so the others keep their
    /// places; one instance subscribed twice is in the list twice and each dispose takes one.
    /// </summary>
    private static MessageHandler<T>[] WithoutOne(MessageHandler<T>[] handlers, MessageHandler<T> handler)
    {
        var at = Array.FindIndex(handlers, h => ReferenceEquals(h, handler));
        if (at < 0)
            return handlers;
        var rest = new MessageHandler<T>[handlers.Length - 1];
        Array.Copy(handlers, rest, at);
        Array.Copy(handlers, at + 1, rest, at, rest.Length - at);
        return rest;
    }

    public ISubscription<T> SubscribeQueue(int capacity = 1024)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1);
        QueueSubscription<T>? queue = null;
        queue = new QueueSubscription<T>(capacity, IsRetainable, () =>
        {
            lock (_gate)
                _queues = Array.FindAll(_queues, s => s != queue);
        });
        lock (_gate)
            _queues = [.. _queues, queue];
        return queue;
    }

    private sealed class Unsubscriber(Action action) : IDisposable
    {
        private Action? _action = action;

        public void Dispose() => Interlocked.Exchange(ref _action, null)?.Invoke();
    }
}
