using System.Buffers;
using System.Collections.Concurrent;
using System.Threading.Tasks.Sources;
using Ferry.Connections;
using Ferry.Framing;

namespace Ferry.Stages.Internal;

/// <summary>
/// One connection's bounded queue of messages for its handler. The service thread copies the messages
/// one read decodes to into one <see cref="InboxBatch"/> and queues the batch when the read is done: one
/// queue operation (and at most one wake-up of the handler) per read, not per message. The handler takes
/// whole batches. When <see cref="Capacity"/> messages or <see cref="ByteCapacity"/> payload bytes wait, the
/// connection stops being read — only this one, the loop goes on serving the others — and it is read again
/// once the handler has worked through half of both. The overshoot is what one read decodes to.
/// </summary>
/// <remarks>
/// The pause is decided on the service thread and the resume on the handler's thread; both sides use
/// interlocked operations on the counts and on <see cref="_paused"/>, and each reads both counts after its
/// own fenced update, so the loop either sees the handler drained and does not pause, or the handler sees the
/// pause and asks for the resume — never neither.
/// The handler's wait is this object itself (one reusable <see cref="IValueTaskSource{TResult}"/>, no
/// allocation per wait; its cancellation is registered once per reader, not per wait): whoever swaps
/// <see cref="_waiting"/> from 1 to 0 — the service thread with a batch or the close, or a cancellation —
/// completes it, exactly once. Its continuation runs on the thread pool; under inline scheduling a wait a
/// read ends is instead listed with the owner and completed by the service thread after the round's reads
/// (<see cref="RunListed"/>), so the handler runs there, outside any read. The close and cancellations always
/// wake it on the thread pool.
/// </remarks>
internal sealed class ConnectionInbox(Connection connection, int capacity, int byteCapacity, IInboxOwner owner, bool inline) : IValueTaskSource<bool>
{
    /// <summary>Whether a wait a read ends is completed on the service thread; cleared for good by <see cref="Demote"/>.</summary>
    private volatile bool _inline = inline;
    /// <summary>Listed with the owner to be run this round. Service thread.</summary>
    private bool _listed;
    private readonly ConcurrentQueue<InboxBatch> _queue = new();
    private ManualResetValueTaskSourceCore<bool> _wait = new() { RunContinuationsAsynchronously = true };
    /// <summary>1 while the handler waits for a batch.</summary>
    private int _waiting;
    /// <summary>No more batches will come (the connection closed).</summary>
    private volatile bool _completed;
    /// <summary>The connection is closing: <see cref="_completed"/> follows; cancellation no longer ends a wait.</summary>
    private volatile bool _closing;
    private readonly int _resumeAt = capacity / 2;
    private readonly long _resumeAtBytes = byteCapacity / 2;
    /// <summary>The batch the current read fills; queued at <see cref="EndRead"/>. Service thread.</summary>
    private InboxBatch? _open;
    /// <summary>Bytes the current read holds (a bound on its messages' payloads): the open batch's slab size.</summary>
    private int _readBytes;
    private int _count;
    /// <summary>Payload bytes queued and not yet worked through.</summary>
    private long _bytes;
    private int _paused;
    /// <summary>The batch the last reader stopped in (break, return, an exception), to be read on from <see cref="_unreadFrom"/>; handler's side only.</summary>
    private InboxBatch? _unread;
    private int _unreadFrom;

    public int Capacity { get; } = capacity;

    public int ByteCapacity { get; } = byteCapacity;

    /// <summary>Whether the handler still runs on the service thread when a read brings it messages.</summary>
    public bool IsInline => _inline;

    /// <summary>From now on the handler is woken on the thread pool (it held the service thread too long).</summary>
    public void Demote() => _inline = false;

    /// <summary>When (stage timestamp) an inline run last overran the budget; 0 if never. Service thread.</summary>
    public long LastOverrun { get; set; }

    /// <summary>The connection whose messages these are.</summary>
    public Connection Connection => connection;

    /// <summary>Whether a pause is in effect that no resume has been asked for yet.</summary>
    public bool IsPaused => Volatile.Read(ref _paused) != 0;

    /// <summary>Messages queued and not yet worked through by the handler.</summary>
    public int Count => Volatile.Read(ref _count);

    /// <summary>Payload bytes queued and not yet worked through by the handler.</summary>
    public long Bytes => Volatile.Read(ref _bytes);

    /// <summary>Whether the handler has worked through enough for reading to resume.</summary>
    private bool Drained => Volatile.Read(ref _count) <= _resumeAt && Volatile.Read(ref _bytes) <= _resumeAtBytes;

    /// <summary>A read of <paramref name="bytes"/> is about to be decoded. Service thread.</summary>
    public void BeginRead(int bytes) => _readBytes = bytes;

    /// <summary>Adds a copy of one message to this read's batch. Service thread.</summary>
    public void Post(ReadOnlySpan<byte> payload, in FrameFields fields, long receivedAtUtcTicks)
        => Open(payload.Length).Add(payload, fields, receivedAtUtcTicks);

    /// <inheritdoc cref="Post(ReadOnlySpan{byte}, in FrameFields, long)"/>
    public void Post(in ReadOnlySequence<byte> payload, in FrameFields fields, long receivedAtUtcTicks)
        => Open((int)Math.Min(payload.Length, int.MaxValue)).Add(payload, fields, receivedAtUtcTicks);

    private InboxBatch Open(int first) => _open ??= new InboxBatch(Math.Max(first, _readBytes));

    /// <summary>
    /// The read is done: its batch goes to the handler, and reading the connection pauses when the inbox
    /// is full. Service thread; also at close, so a read's messages are never lost.
    /// </summary>
    public void EndRead()
    {
        var batch = _open;
        if (batch is null)
            return;
        _open = null;
        _readBytes = 0;
        var count = batch.Count;
        var bytes = batch.Bytes;
        if (_completed)
        {
            batch.Release(); // the connection is closing
            return;
        }
        // Counted before the batch is visible: the handler's Done never takes away what was not added.
        var bytesNow = Interlocked.Add(ref _bytes, bytes);
        var countNow = Interlocked.Add(ref _count, count);
        _queue.Enqueue(batch);
        Signal(true);
        if ((countNow < Capacity && bytesNow < ByteCapacity) || Volatile.Read(ref _paused) != 0)
            return;
        Interlocked.Exchange(ref _paused, 1);
        // The handler may have drained between the counts and the flag: then it did not see the flag.
        if (Drained && Interlocked.CompareExchange(ref _paused, 0, 1) == 1)
            return;
        owner.PauseReads(connection);
    }

    /// <summary>
    /// The next batch to read and the index of its first unread message: the batch a reader left part-read,
    /// if any, else the next queued one. Handler's side.
    /// </summary>
    public bool TryTake(out InboxBatch batch, out int first)
    {
        if (_unread is { } left)
        {
            _unread = null;
            if (_unreadFrom < left.Count)
            {
                batch = left;
                first = _unreadFrom;
                return true;
            }
            // Left at its last message, which was valid until now, when the new reader moves on.
            Done(left);
        }
        first = 0;
        return _queue.TryDequeue(out batch!);
    }

    /// <summary>
    /// A reader stops in <paramref name="batch"/> (its loop was left with break, return or an exception) with
    /// <paramref name="next"/> the first message it did not hand out. The batch stays here, ahead of the
    /// queue, for the next reader: the messages of one read must not be lost because the handler read the
    /// first of them in one loop and the others in another. It stays held meanwhile, so the message the loop
    /// stopped at stays valid until the next reader moves on (or the handler ends), whether or not it was the
    /// last of its read. Handler's side.
    /// </summary>
    public void Leave(InboxBatch batch, int next)
    {
        _unread = batch;
        _unreadFrom = next;
    }

    /// <summary>
    /// The handler has ended: a batch a reader left part-read is released (nothing will read it), and the
    /// connection may close once what the handler sent is written (<see cref="HasHandlerEnded"/>). Handler's side.
    /// </summary>
    public void HandlerEnded()
    {
        if (_unread is { } left)
        {
            _unread = null;
            Done(left);
        }
        _handlerEnded = true;
    }

    /// <summary>Whether the handler has ended; until then a connection whose peer finished sending stays open for its answer.</summary>
    public bool HasHandlerEnded => _handlerEnded;

    private volatile bool _handlerEnded;

    /// <summary>
    /// The peer has finished sending (a FIN) and the connection stays open for the handler's answer: the
    /// handler reads what is queued, then its reading ends, but its token is not cancelled and it may still
    /// send. Service thread.
    /// </summary>
    public void PeerFinished()
    {
        EndRead();
        _completed = true;
        Signal(false);
    }

    /// <summary>
    /// Waits for a batch: true when one is queued, false when the connection has closed and every batch
    /// was taken. Handler's side, one wait at a time; cancelled through <see cref="CancelWait"/>.
    /// </summary>
    public ValueTask<bool> WaitAsync(CancellationToken cancellationToken)
    {
        if (!_queue.IsEmpty)
            return new ValueTask<bool>(true);
        // Closed and drained: the end, not a cancellation (the close also cancels the handler's token).
        if (_completed)
            return new ValueTask<bool>(!_queue.IsEmpty);
        if (!_closing)
            cancellationToken.ThrowIfCancellationRequested();
        _wait.Reset();
        // A full fence: the queue is read again below, and a batch queued meanwhile must be seen here or its
        // signal must see this flag (with a plain store the read could move ahead of it).
        Interlocked.Exchange(ref _waiting, 1);
        // A batch (or the close, or a cancellation) may have come between the checks and the flag.
        if ((!_queue.IsEmpty || _completed || (cancellationToken.IsCancellationRequested && !_closing)) && Interlocked.Exchange(ref _waiting, 0) == 1)
        {
            // Queued messages first, then the end, then the cancellation.
            if (!_queue.IsEmpty || _completed)
                return new ValueTask<bool>(!_queue.IsEmpty);
            throw new OperationCanceledException(cancellationToken);
        }
        return new ValueTask<bool>(this, _wait.Version);
    }

    /// <summary>Ends a pending wait with <see cref="OperationCanceledException"/>. Any thread (a token's callback).</summary>
    public void CancelWait(CancellationToken cancellationToken)
    {
        // The close cancels the handler's token too: that is the end of reading (Complete wakes the wait), not an error.
        if (_closing || Interlocked.Exchange(ref _waiting, 0) != 1)
            return;
        _wait.RunContinuationsAsynchronously = true;
        _wait.SetException(new OperationCanceledException(cancellationToken));
    }

    /// <summary>
    /// Wakes a waiting handler: with true for a batch, false for the close. A batch for an inline handler
    /// that waits is listed with the owner instead, to be run after the round's reads.
    /// </summary>
    private void Signal(bool batch)
    {
        if (batch && _inline)
        {
            // The batch was queued first: a handler that is not waiting now takes it when it next reads.
            if (!_listed && Volatile.Read(ref _waiting) == 1)
            {
                _listed = true;
                owner.RunSoon(this);
            }
            return;
        }
        Wake(batch, onThisThread: false);
    }

    /// <summary>Runs the listed handler on the service thread until its next wait (on the thread pool once demoted). Service thread.</summary>
    public void RunListed()
    {
        _listed = false;
        Wake(true, onThisThread: _inline);
    }

    private void Wake(bool batch, bool onThisThread)
    {
        if (Interlocked.Exchange(ref _waiting, 0) != 1)
            return;
        // Whoever wins the flag owns this completion, so the setting is theirs to choose.
        _wait.RunContinuationsAsynchronously = !onThisThread;
        _wait.SetResult(batch || !_queue.IsEmpty);
    }

    bool IValueTaskSource<bool>.GetResult(short token) => _wait.GetResult(token);

    ValueTaskSourceStatus IValueTaskSource<bool>.GetStatus(short token) => _wait.GetStatus(token);

    void IValueTaskSource<bool>.OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags)
        => _wait.OnCompleted(continuation, state, token, flags);

    /// <summary>
    /// The handler has worked through a batch: it is released (its messages' bytes go back to the pool
    /// unless retained), and reads resume when enough has drained. Handler's side.
    /// </summary>
    public void Done(InboxBatch batch)
    {
        var count = batch.Count;
        var bytes = batch.Bytes;
        batch.Release();
        Interlocked.Add(ref _bytes, -bytes);
        Interlocked.Add(ref _count, -count);
        if (Volatile.Read(ref _paused) == 1 && Drained && Interlocked.CompareExchange(ref _paused, 0, 1) == 1)
            owner.ResumeReads(connection);
    }

    /// <summary>
    /// The connection is closing: from now on a cancelled token does not end a wait (the close cancels the
    /// handler's token, and that is the end of reading, which <see cref="Complete"/> brings right after).
    /// Service thread, at close, before the handler's token is cancelled.
    /// </summary>
    public void BeginClose() => _closing = true;

    /// <summary>No more messages: the handler reads what is queued, then its enumeration ends. Service thread, at close.</summary>
    public void Complete()
    {
        EndRead();
        _completed = true;
        Signal(false);
    }
}

/// <summary>What an inbox asks of the stage: stop and resume reading its connection.</summary>
internal interface IInboxOwner
{
    /// <summary>Lists an inline handler whose wait a read ended, to be run after the round's reads. Service thread.</summary>
    void RunSoon(ConnectionInbox inbox);

    /// <summary>Stops reading the connection. Service thread.</summary>
    void PauseReads(Connection c);

    /// <summary>Asks the service thread to read the connection again. Any thread.</summary>
    void ResumeReads(Connection c);
}
