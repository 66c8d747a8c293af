namespace Ferry.Testing;

/// <summary>
/// An append-only list written by the stage's threads and awaited by the test: every append wakes the
/// waiters, which re-check their condition against a snapshot (no polling).
/// </summary>
internal sealed class Recording<T>
{
    private readonly Lock _gate = new();
    private readonly List<T> _items = [];
    private TaskCompletionSource _changed = NewSignal();

    public void Add(T item)
    {
        TaskCompletionSource changed;
        lock (_gate)
        {
            _items.Add(item);
            changed = _changed;
            _changed = NewSignal();
        }
        changed.TrySetResult();
    }

    public IReadOnlyList<T> Snapshot()
    {
        lock (_gate)
            return [.. _items];
    }

    /// <summary>Waits until <paramref name="find"/> returns a value for the recorded items, or the deadline passes.</summary>
    public async Task<TResult> WaitAsync<TResult>(Func<IReadOnlyList<T>, TResult?> find, string what, TimeSpan timeout,
        Func<IReadOnlyList<T>, string> describe)
        where TResult : class
    {
        using var deadline = new CancellationTokenSource(timeout);
        while (true)
        {
            IReadOnlyList<T> items;
            Task changed;
            lock (_gate)
            {
                items = [.. _items];
                changed = _changed.Task;
            }
            if (find(items) is { } found)
                return found;
            try
            {
                await changed.WaitAsync(deadline.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                var last = Snapshot();
                if (find(last) is { } lastFound)
                    return lastFound;
                throw new TimeoutException(TimeoutMessage.Format(what, timeout, describe(last)));
            }
        }
    }

    private static TaskCompletionSource NewSignal() => new(TaskCreationOptions.RunContinuationsAsynchronously);
}
