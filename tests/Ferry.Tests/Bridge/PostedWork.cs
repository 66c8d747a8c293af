namespace Ferry.Tests.Bridge;

/// <summary>
/// A synchronization context that only queues what is posted to it, for the test to run one item at a time: code that
/// goes round by yielding (<c>await Task.Yield()</c> posts its continuation to the current context) is seen going round,
/// deterministically, instead of racing on the thread pool.
/// </summary>
internal sealed class PostedWork : SynchronizationContext
{
    private readonly Queue<(SendOrPostCallback Callback, object? State)> _posted = new();

    public override void Post(SendOrPostCallback d, object? state)
    {
        lock (_posted)
            _posted.Enqueue((d, state));
    }

    public override void Send(SendOrPostCallback d, object? state) => throw new NotSupportedException("nothing here sends synchronously");

    /// <summary>Runs <paramref name="action"/> with this as the current context (what it posts comes here).</summary>
    public T RunIn<T>(Func<T> action)
    {
        var previous = Current;
        SetSynchronizationContext(this);
        try
        {
            return action();
        }
        finally
        {
            SetSynchronizationContext(previous);
        }
    }

    /// <summary>Runs what was posted, and what that posts, up to <paramref name="most"/> items; returns how many ran.</summary>
    public int RunPosted(int most)
    {
        var ran = 0;
        while (ran < most)
        {
            (SendOrPostCallback Callback, object? State) next;
            lock (_posted)
            {
                if (!_posted.TryDequeue(out next))
                    break;
            }
            RunIn(() =>
            {
                next.Callback(next.State);
                return 0;
            });
            ran++;
        }
        return ran;
    }
}
