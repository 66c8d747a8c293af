namespace Ferry.Testing;

/// <summary>
/// Waits for a condition that nothing signals (a counter, a file, another process) by checking it
/// every few milliseconds until it holds or a deadline passes: no fixed sleeps in tests.
/// </summary>
public static class Poll
{
    /// <summary>The deadline every wait of the kit uses unless given another: generous, because a
    /// loaded build machine can stall a test for seconds without anything being wrong.</summary>
    public static TimeSpan DefaultTimeout { get; } = TimeSpan.FromSeconds(10);

    /// <summary>Checks <paramref name="condition"/> until it returns true.</summary>
    /// <param name="condition">What must become true; called on the caller's context every few milliseconds.</param>
    /// <param name="what">What is awaited, for the failure message ("the stage to close 3 connections").</param>
    /// <param name="timeout">How long to wait; <see cref="DefaultTimeout"/> when null.</param>
    /// <param name="seen">Optional: describes the state at the deadline, appended to the failure message.</param>
    /// <exception cref="TimeoutException">The condition did not hold within the timeout.</exception>
    public static async Task UntilAsync(Func<bool> condition, string what, TimeSpan? timeout = null, Func<string>? seen = null)
    {
        ArgumentNullException.ThrowIfNull(condition);
        var limit = timeout ?? DefaultTimeout;
        var deadline = DateTime.UtcNow + limit;
        while (!condition())
        {
            if (DateTime.UtcNow > deadline)
                throw new TimeoutException(TimeoutMessage.Format(what, limit, seen?.Invoke()));
            await Task.Delay(5).ConfigureAwait(false);
        }
    }
}
