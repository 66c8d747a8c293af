namespace Ferry.Bridge.Internal;

/// <summary>
/// One <c>PipeToAsync</c> from a bridge end that runs on the end's receiving service thread: frames go
/// to the sink as they are decoded, with no queue and no hand-off to another thread. Ends when its token
/// is cancelled (cancelled), the bridge stops (completed) or the sink throws (faulted).
/// </summary>
internal sealed class InlinePipe : IDisposable
{
    private readonly TaskCompletionSource _done = new(TaskCreationOptions.RunContinuationsAsynchronously);
    /// <summary>Set once the pipe has ended and no sink call is under way: what its caller awaits.</summary>
    private readonly TaskCompletionSource _settled = new(TaskCreationOptions.RunContinuationsAsynchronously);
    /// <summary>Sink calls under way on the receiving thread (<see cref="TryEnter"/> .. <see cref="Exit"/>).</summary>
    private int _calls;
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
        _done.Task.ContinueWith(static (_, s) => ((InlinePipe)s!).SettleIfIdle(), this, CancellationToken.None,
            TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
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

    /// <summary>
    /// Completes once the pipe has ended (<see cref="Completion"/>) and the sink is no longer being called: a caller woken
    /// by the pipe's end may then dispose what its handler uses. A cancellation or a stop ends the pipe at once, while
    /// the receiving thread may still be inside the sink with the frame before.
    /// </summary>
    public Task Settled => _settled.Task;

    /// <summary>
    /// The receiving thread is about to call the sink: true while the pipe is active (call <see cref="Exit"/> after the
    /// call), false once it has ended (the frame is not the pipe's). Counted first and checked after, so an end that saw
    /// no call under way never has one start behind it.
    /// </summary>
    public bool TryEnter()
    {
        Interlocked.Increment(ref _calls);
        if (IsActive)
            return true;
        Exit();
        return false;
    }

    /// <summary>A sink call begun with <see cref="TryEnter"/> is over.</summary>
    public void Exit()
    {
        if (Interlocked.Decrement(ref _calls) == 0 && !IsActive)
            _settled.TrySetResult();
    }

    private void SettleIfIdle()
    {
        if (Volatile.Read(ref _calls) == 0)
            _settled.TrySetResult();
    }

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
