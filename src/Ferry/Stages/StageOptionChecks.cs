using Ferry.Stages.Internal;

namespace Ferry.Stages;

/// <summary>The checks every stage's options share, so both stages say the same thing about the same mistake.</summary>
internal static class StageOptionChecks
{
    public static void Common(List<string> problems, string name, int groupSize, TimeSpan groupLinger, int egressBufferBytes,
        TimeSpan idleTimeout, int readBufferBytes, IReadOnlyList<int>? affinity, TimeSpan statsInterval)
    {
        if (string.IsNullOrWhiteSpace(name) || name.Contains('/'))
            problems.Add($"option 'name': '{name}' is not allowed; must be non-empty without '/'");
        if (groupSize < 1 || groupSize > 65536)
            problems.Add($"option 'group_size': {groupSize} is not allowed; must be from 1 to 65536");
        if (groupLinger < TimeSpan.Zero || groupLinger > TimeSpan.FromMinutes(1))
            problems.Add($"option 'group_linger': {DurationWords.Of(groupLinger)} is not allowed; must be from 0 to 1 minute");
        if (egressBufferBytes < 1)
            problems.Add($"option 'egress_buffer_bytes': {egressBufferBytes} is not allowed; must be at least 1");
        Deadline(problems, "idle_timeout", idleTimeout);
        if (readBufferBytes < 256 || readBufferBytes > 16 * 1024 * 1024)
            problems.Add($"option 'read_buffer_bytes': {readBufferBytes} is not allowed; must be from 256 to 16 MiB");
        foreach (var cpu in affinity ?? [])
            if (cpu < 0 || cpu >= Environment.ProcessorCount)
                problems.Add($"option 'thread_processor_affinity': CPU {cpu} is not allowed; this machine has CPUs 0 to {Environment.ProcessorCount - 1}");
        if (statsInterval < TimeSpan.FromMilliseconds(10))
            problems.Add($"option 'stats_interval': {DurationWords.Of(statsInterval)} is not allowed; must be at least 10 ms");
    }

    /// <summary>The hardening limits: how long a frame may take and how much unfinished frames may hold.</summary>
    public static void Limits(List<string> problems, TimeSpan frameTimeout, long maxPendingBytes)
    {
        Deadline(problems, "frame_timeout", frameTimeout);
        if (maxPendingBytes != 0 && maxPendingBytes < 4096)
            problems.Add($"option 'max_pending_bytes': {maxPendingBytes} is not allowed; must be 0 (no limit) or at least 4096");
    }

    /// <summary>A deadline is 0 (off) or at least the timer's resolution: one below it must not silently mean "never".</summary>
    private static void Deadline(List<string> problems, string name, TimeSpan value)
    {
        if (value < TimeSpan.Zero || (value > TimeSpan.Zero && value < TimeSpan.FromMilliseconds(1)))
            problems.Add($"option '{name}': {DurationWords.Of(value)} is not allowed; must be 0 (never) or at least 1 ms");
    }
}
