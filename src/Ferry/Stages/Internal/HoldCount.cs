namespace Ferry.Stages.Internal;

/// <summary>
/// The hold count of pooled storage that user code can keep (a packet group, an inbox batch): a hold is
/// added only while at least one is left, so storage that has gone back to its pool is never revived.
/// </summary>
internal static class HoldCount
{
    /// <summary>Adds a hold to <paramref name="holds"/>; false when the last one is already gone.</summary>
    public static bool TryAdd(ref int holds)
    {
        while (true)
        {
            var current = Volatile.Read(ref holds);
            if (current <= 0)
                return false;
            if (Interlocked.CompareExchange(ref holds, current + 1, current) == current)
                return true;
        }
    }
}
