namespace Ferry.Testing;

/// <summary>Runs one network operation under a deadline and turns running out of time into a <see cref="TimeoutException"/> that says what was awaited and what was seen.</summary>
internal static class Deadline
{
    public static async Task<T> RunAsync<T>(Func<CancellationToken, Task<T>> operation, string what, TimeSpan timeout, Func<string> seen,
        CancellationToken cancellationToken)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        if (timeout != Timeout.InfiniteTimeSpan)
            deadline.CancelAfter(timeout);
        try
        {
            return await operation(deadline.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (deadline.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            throw new TimeoutException(TimeoutMessage.Format(what, timeout, seen()));
        }
    }
}
