namespace Ferry.Stages;

/// <summary>How a stage runs its connection handlers (<c>MapConnections</c>).</summary>
public sealed class ConnectionHandlerOptions
{
    /// <summary>
    /// Messages a connection's inbox holds for its handler; while it is full that connection (only that
    /// one) is not read, and reading resumes once the handler has worked through half. At least 1; 256 by default.
    /// </summary>
    public int MaxQueuedMessages { get; init; } = 256;

    /// <summary>
    /// Payload bytes a connection's inbox holds for its handler: the same pause as <see cref="MaxQueuedMessages"/>, for
    /// large messages (256 messages of 1 MiB would otherwise be 256 MiB for one connection). Reading resumes once the
    /// handler has worked through half. The pause comes after the read that fills it, so one read's messages (at least
    /// one whole message, however large) always get through. At least 1; 1 MiB by default.
    /// </summary>
    public int MaxQueuedBytes { get; init; } = 1024 * 1024;

    /// <summary>Where handlers run: the thread pool (the default) or the stage's service thread.</summary>
    public HandlerScheduling Scheduling { get; init; } = HandlerScheduling.ThreadPool;

    /// <summary>
    /// Under <see cref="HandlerScheduling.Inline"/>: the longest a handler may hold the service thread in one
    /// run (measured on the stage's <see cref="TimeProvider"/>, garbage-collection pauses not counted); the
    /// second overrun within a second moves that connection's handler to the thread pool for good. Above
    /// zero, at most one second; 1 ms by default.
    /// </summary>
    public TimeSpan InlineBudget { get; init; } = TimeSpan.FromMilliseconds(1);

    /// <summary>Checks the values; the message names the option, the value and what is allowed.</summary>
    internal void Validate()
    {
        if (MaxQueuedMessages < 1)
            throw new ArgumentOutOfRangeException(nameof(MaxQueuedMessages), MaxQueuedMessages, $"{nameof(MaxQueuedMessages)} is {MaxQueuedMessages}; allowed: 1 or more");
        if (MaxQueuedBytes < 1)
            throw new ArgumentOutOfRangeException(nameof(MaxQueuedBytes), MaxQueuedBytes, $"{nameof(MaxQueuedBytes)} is {MaxQueuedBytes}; allowed: 1 or more");
        if (!Enum.IsDefined(Scheduling))
            throw new ArgumentOutOfRangeException(nameof(Scheduling), Scheduling, $"{nameof(Scheduling)} is {(int)Scheduling}; allowed: {string.Join(", ", Enum.GetNames<HandlerScheduling>())}");
        if (InlineBudget <= TimeSpan.Zero || InlineBudget > TimeSpan.FromSeconds(1))
            throw new ArgumentOutOfRangeException(nameof(InlineBudget), InlineBudget, $"{nameof(InlineBudget)} is {InlineBudget}; allowed: above zero, at most 1 s");
    }
}
