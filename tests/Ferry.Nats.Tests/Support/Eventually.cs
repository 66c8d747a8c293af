namespace Ferry.Nats.Tests.Support;

/// <summary>Polls a condition until it holds or a deadline passes: no fixed sleeps.</summary>
public static class Eventually
{
    public static async Task TrueAsync(Func<bool> condition, TimeSpan timeout, Func<string> describe)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (!condition())
        {
            if (DateTime.UtcNow > deadline)
                throw new TimeoutException($"not true within {timeout.TotalSeconds:0.#} s: {describe()}");
            await Task.Delay(10);
        }
    }

    /// <summary>The same for a condition that asks the broker (polled every 50 ms, not to flood it).</summary>
    public static async Task TrueAsync(Func<Task<bool>> condition, TimeSpan timeout, Func<string> describe)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (!await condition())
        {
            if (DateTime.UtcNow > deadline)
                throw new TimeoutException($"not true within {timeout.TotalSeconds:0.#} s: {describe()}");
            await Task.Delay(50);
        }
    }
}
