namespace Ferry.Bridge.Internal;

/// <summary>
/// One <c>PipeToAsync</c> from a bridge end that runs on the end's receiving service thread: frames go
/// to the sink as they are decoded, with no queue and no hand-off to another thread. Ends when its token
/// is cancelled (cancelled), the bridge stops (completed) or the sink throws (faulted).
/// </summary>
internal sealed class InlinePipe : IDisposable
{
    private readonly TaskCompletionSource _done = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly CancellationTokenSource _linked;
    private readonly CancellationTokenRegistration _cancelled;
    private readonly CancellationTokenRegistration _stopped;

    public InlinePipe(IFrameSink sink, bool borrowsPayloads, CancellationToken cancellationToken, CancellationToken stopping)
    {
        Sink = sink;
        BorrowsPayloads = borrowsPayloads;
        _linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, stopping);
        _cancelled = cancellationToken.UnsafeRegister(static (s, ct) => ((InlinePipe)s!)._done.TrySetCanceled(ct), this);
        _stopped = stopping.UnsafeRegister(static s => ((InlinePipe)s!)._done.TrySetResult(), this);
    }

    public IFrameSink Sink { get; }

    /// <summary>
    /// The sink copies a payload before its send completes (a bridge end), so frames may lend it the
    /// receive buffer's bytes; any other sink gets a fresh array it may keep.
    /// </summary>
    public bool BorrowsPayloads { get; }

    /// <summary>Given to the sink: cancelled when the pipe's token is or the bridge stops.</summary>
    public CancellationToken Token => _linked.Token;

    public bool IsActive => !_done.Task.IsCompleted;

    public Task Completion => _done.Task;

    public void Complete() => _done.TrySetResult();

    public void Fail(Exception exception) => _done.TrySetException(exception);

    public void Dispose()
    {
        _cancelled.Dispose();
        _stopped.Dispose();
        // The linked source is not disposed: the receiving thread may still be reading Token in a
        // send that was under way when the pipe ended, and a disposed source throws there.
    }
}
