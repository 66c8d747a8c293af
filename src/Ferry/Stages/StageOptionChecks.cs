using Ferry.Transport;
using Ferry.Stages.Internal;

namespace Ferry.Stages;

/// <summary>The checks every stage's options share, so both stages say the same thing about the same mistake.</summary>
internal static class StageOptionChecks
{
    public static void Common(List<string> problems, string name, int groupSize, TimeSpan groupLinger, int egressBufferBytes,
        TimeSpan idleTimeout, int readBufferBytes, IReadOnlyList<int>? affinity, TimeSpan statsInterval)
    {
        // One rule with Ferry.Hosting and ferry run (StageNames): the name is in topics, metrics, logs and NATS names.
        if (StageNames.Problem(name) is { } why)
            problems.Add($"option 'name': {StageNames.Quote(name)} is not allowed{(name is null ? "" : $" ({why})")}; {StageNames.Allowed}");
        if (groupSize < 1 || groupSize > 65536)
            problems.Add($"option 'group_size': {groupSize} is not allowed; must be from 1 to 65536");
        if (groupLinger < TimeSpan.Zero || groupLinger > TimeSpan.FromMinutes(1))
            problems.Add($"option 'group_linger': {DurationWords.Of(groupLinger)} is not allowed; must be from 0 to 1 minute");
        if (egressBufferBytes < 1)
            problems.Add($"option 'egress_buffer_bytes': {egressBufferBytes} is not allowed; must be at least 1");
        Deadline(problems, "idle_timeout", idleTimeout);
        if (readBufferBytes < 256 || readBufferBytes > 16 * 1024 * 1024)
            problems.Add($"option 'read_buffer_bytes': {readBufferBytes} is not allowed; must be from 256 to 16 MiB");
        // Null is not "any CPU" (that is the empty list): refused here rather than found by the service thread, where it
        // would end the process.
        if (affinity is null)
            problems.Add("option 'thread_processor_affinity': null is not allowed; use an empty list for any CPU, or the CPUs to run on");
        foreach (var cpu in affinity ?? [])
            if (cpu < 0 || cpu >= Environment.ProcessorCount)
                problems.Add($"option 'thread_processor_affinity': CPU {cpu} is not allowed; this machine has CPUs 0 to {Environment.ProcessorCount - 1}");
        if (statsInterval < TimeSpan.FromMilliseconds(10))
            problems.Add($"option 'stats_interval': {DurationWords.Of(statsInterval)} is not allowed; must be at least 10 ms");
    }

    /// <summary>The socket options: null is refused (before, it passed and the start failed with only a log line saying why).</summary>
    public static void Socket(List<string> problems, TcpSocketOptions? socket)
    {
        if (socket is null)
            problems.Add("option 'socket': null is not allowed; use new TcpSocketOptions() for the system's defaults");
        else
            socket.Validate(problems);
    }

    /// <summary>The hardening limits: how long a frame may take and how much unfinished frames may hold.</summary>
    public static void Limits(List<string> problems, TimeSpan frameTimeout, long maxPendingBytes)
    {
        Deadline(problems, "frame_timeout", frameTimeout);
        if (maxPendingBytes != 0 && maxPendingBytes < 4096)
            problems.Add($"option 'max_pending_bytes': {maxPendingBytes} is not allowed; must be 0 (no limit) or at least 4096");
    }

    /// <summary>
    /// How long a graceful close may linger (<c>close_linger</c>): 0 (close at once) or from 1 ms to 5 minutes. Longer would let
    /// peers that never close hold a closed connection's descriptor for longer than any client needs to take its last answers.
    /// </summary>
    public static void CloseLinger(List<string> problems, TimeSpan closeLinger)
    {
        if (closeLinger != TimeSpan.Zero && (closeLinger < TimeSpan.FromMilliseconds(1) || closeLinger > TimeSpan.FromMinutes(5)))
            problems.Add($"option 'close_linger': {DurationWords.Of(closeLinger)} is not allowed; must be 0 (close at once: a reset when the peer's bytes are unread) or from 1ms to 5m");
    }

    /// <summary>
    /// The bounds of the named groups (rooms): how many one connection may be in, and how long a name may be. The count
    /// follows the other counts' convention (0 = unlimited, as <c>max_connections</c>); a name always has a bound, from
    /// 1 to <see cref="LongestGroupNameLimit"/> characters (UTF-16 code units, as <see cref="string.Length"/> counts them).
    /// </summary>
    public static void Groups(List<string> problems, int maxGroupsPerConnection, int maxGroupNameLength)
    {
        if (maxGroupsPerConnection < 0)
            problems.Add($"option 'max_groups_per_connection': {maxGroupsPerConnection} is not allowed; must be 0 (unlimited) or more");
        if (maxGroupNameLength < 1 || maxGroupNameLength > LongestGroupNameLimit)
            problems.Add($"option 'max_group_name_length': {maxGroupNameLength} is not allowed; must be from 1 to {LongestGroupNameLimit} characters");
    }

    /// <summary>
    /// The highest <c>max_group_name_length</c>: a name is held for as long as its group lives and goes into every
    /// joined/left notice, so even a raised limit stays far below what would make those messages large.
    /// </summary>
    public const int LongestGroupNameLimit = 65536;

    /// <summary>A deadline is 0 (off) or at least the timer's resolution: one below it must not silently mean "never".</summary>
    private static void Deadline(List<string> problems, string name, TimeSpan value)
    {
        if (value < TimeSpan.Zero || (value > TimeSpan.Zero && value < TimeSpan.FromMilliseconds(1)))
            problems.Add($"option '{name}': {DurationWords.Of(value)} is not allowed; must be 0 (never) or at least 1 ms");
    }
}
