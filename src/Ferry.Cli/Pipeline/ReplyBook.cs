using Ferry.Connections;

namespace Ferry.Cli.Pipeline;

/// <summary>
/// Who waits for an answer from the upstream client stage of a <c>target: reply</c> route pair: for each
/// upstream connection, the requesting connections in the order their messages went out on it. An
/// answer read on upstream connection X goes to the oldest request sent on X, so the book promises one
/// answer per request, in order, over one upstream connection, and nothing more.
/// </summary>
/// <remarks>
/// Why it is careful about what it records: one entry that never gets its answer (a message the
/// upstream stage dropped, a connection that closed with requests in flight) would shift every later
/// answer onto the wrong client. So a request is reserved before it is sent (its answer may come back
/// before the sender's thread runs again), committed only when the upstream stage took it, and
/// cancelled otherwise; the requests of a connection that ended are forgotten with it; an answer that
/// no request on its connection waits for is dropped, never handed to another client. Past
/// <see cref="Capacity"/> requests in flight on a connection, a new request waits for room (under the upstream's
/// <c>egress_overflow: wait</c>, within its <c>egress_wait_timeout</c>) or is refused (not sent), never an old one forgotten.
/// </remarks>
internal sealed class ReplyBook(ReplyLoss loss, int capacity = ReplyBook.DefaultCapacity)
{
    public const int DefaultCapacity = 65536;

    private readonly Lock _gate = new();
    private readonly Dictionary<ConnectionId, Queue<ConnectionId>> _waiting = [];

    // The one request being sent (a route's sender awaits each send, and only one route feeds an upstream stage).
    private ConnectionId _pendingUpstream;
    private ConnectionId _pendingRequester;
    private bool _pendingTaken;
    // Its upstream connection ended while it was being sent: Forget gave it up with that connection's requests.
    private bool _pendingLost;
    private int _waitingCount;
    // Answers taken for their requester and not yet handed to the server stage's egress.
    private int _delivering;
    // Requests read and queued behind one waiting for room (under wait), not yet sent nor given up.
    private int _queued;
    private volatile bool _closed;
    private readonly CancellationTokenSource _closing = new();
    private TaskCompletionSource? _settled;
    // The stop awaiting the request being sent: it counts the requests in flight once that one is recorded or given up.
    private TaskCompletionSource? _sendEnded;
    // A sender waiting for room (egress_overflow: wait), woken by every answer taken or connection forgotten meanwhile.
    private TaskCompletionSource? _room;

    /// <summary>Requests one upstream connection may have in flight; past it a new one waits or is refused.</summary>
    public int Capacity => capacity;

    /// <summary>What was lost, for the operator.</summary>
    public ReplyLoss Loss => loss;

    /// <summary>The answers each client is still owed (its half-closed connection closes once it is owed none).</summary>
    public ReplyOwed Owed { get; } = new();

    /// <summary>Requests now waiting for their answer, over every upstream connection.</summary>
    public int Waiting
    {
        get
        {
            lock (_gate)
                return _waitingCount;
        }
    }

    /// <summary>Whether a request is being sent now: reserved, and not yet recorded or given up.</summary>
    public bool Sending
    {
        get
        {
            lock (_gate)
                return _pendingUpstream != default;
        }
    }

    /// <summary>
    /// Completes once no request is being sent (the one that was is recorded or given up): at once when none is. The stop
    /// counts the requests in flight after it; counted before, a request the upstream client had already written but the
    /// sender not yet recorded was missing from the count.
    /// </summary>
    public Task WhenNotSendingAsync()
    {
        lock (_gate)
        {
            if (_pendingUpstream == default)
                return Task.CompletedTask;
            _sendEnded ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            return _sendEnded.Task;
        }
    }

    /// <summary>Under the lock, once the request being sent was recorded or given up.</summary>
    private void SignalSendEnded()
    {
        _sendEnded?.TrySetResult();
        _sendEnded = null;
    }

    /// <summary>
    /// Completes when <paramref name="upstream"/> may have room for one more request: at once when it has, else at the
    /// next answer taken or connection forgotten (the caller tries <see cref="TryReserve"/> again).
    /// </summary>
    public Task WhenRoomAsync(ConnectionId upstream)
    {
        lock (_gate)
        {
            if (!_waiting.TryGetValue(upstream, out var queue) || queue.Count < capacity)
                return Task.CompletedTask;
            _room ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            return _room.Task;
        }
    }

    /// <summary>Under the lock, after a request left the book.</summary>
    private void SignalRoom()
    {
        _room?.TrySetResult();
        _room = null;
    }

    /// <summary>Whether the run is stopping: no new request is to be sent (<see cref="Close"/>).</summary>
    public bool Closed => _closed;

    /// <summary>
    /// Cancelled by <see cref="Close"/>: a request still waiting for room in the upstream's egress buffer gives up then (it was
    /// not sent: no new request is), instead of being sent after the stop began, or holding the stop up to its
    /// <c>egress_wait_timeout</c> as if it were an answer owed.
    /// </summary>
    public CancellationToken Closing => _closing.Token;

    /// <summary>The run is stopping: the request route sends nothing more, so the answers already owed can all come in.</summary>
    public void Close()
    {
        _closed = true;
        // A request waiting for room gives up now (it finds the book closed), not at its egress_wait_timeout.
        lock (_gate)
            SignalRoom();
        _closing.Cancel(); // outside the lock: a sender's wait ends here, and it comes back to the book
    }

    /// <summary>
    /// A request was read and queued to be sent once there is room (under <c>wait</c>); <see cref="Unqueued"/> when it is sent or
    /// given up. The book is not settled while one is queued: a stop that closed the stages while the queue was still being
    /// given up (each request counted lost) reported its losses before they were all counted.
    /// </summary>
    public void Queued()
    {
        lock (_gate)
            _queued++;
    }

    /// <summary>A queued request was sent (and recorded) or given up (and counted): see <see cref="Queued"/>.</summary>
    public void Unqueued()
    {
        lock (_gate)
        {
            _queued--;
            SignalIfSettled();
        }
    }

    /// <summary>
    /// Completes once no request waits for its answer, none is being sent or queued to be sent, and every answer taken was
    /// handed on (<see cref="Delivered"/>): what the stop waits for before it closes the stages. At once when that is so now.
    /// </summary>
    public Task WhenSettledAsync()
    {
        lock (_gate)
        {
            if (IsSettled)
                return Task.CompletedTask;
            _settled ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            return _settled.Task;
        }
    }

    private bool IsSettled => _waitingCount == 0 && _pendingUpstream == default && _delivering == 0 && _queued == 0;

    /// <summary>Under the lock, after anything that may have settled the book.</summary>
    private void SignalIfSettled()
    {
        if (_settled is not null && IsSettled)
        {
            _settled.TrySetResult();
            _settled = null;
        }
    }

    /// <summary>
    /// Reserves the answer to a request <paramref name="requester"/> is about to send on upstream
    /// connection <paramref name="upstream"/>; false (send nothing) when that connection already has
    /// <see cref="Capacity"/> requests in flight. Follow with <see cref="Commit"/> or <see cref="Cancel"/>.
    /// </summary>
    public bool TryReserve(ConnectionId upstream, ConnectionId requester)
    {
        lock (_gate)
        {
            if (_waiting.TryGetValue(upstream, out var queue) && queue.Count >= capacity)
                return false;
            _pendingUpstream = upstream;
            _pendingRequester = requester;
            _pendingTaken = false;
            _pendingLost = false;
            return true;
        }
    }

    /// <summary>
    /// The upstream stage took the reserved request: it awaits its answer (unless that came already, or its connection ended
    /// meanwhile: <see cref="Forget"/> gave it up then).
    /// </summary>
    public void Commit()
    {
        BeforeCommitForTest?.Invoke();
        lock (_gate)
        {
            if (_pendingUpstream != default && !_pendingTaken)
            {
                if (!_waiting.TryGetValue(_pendingUpstream, out var queue))
                    _waiting[_pendingUpstream] = queue = new Queue<ConnectionId>();
                queue.Enqueue(_pendingRequester);
                _waitingCount++;
            }
            _pendingUpstream = default;
            SignalSendEnded();
            SignalIfSettled();
        }
    }

    /// <summary>
    /// The upstream stage did not take the reserved request (dropped, not connected): no answer will come for it. False when
    /// its connection ended while it was being sent: <see cref="Forget"/> gave it up already (settled and counted), so the
    /// caller does neither again, nor sends it later.
    /// </summary>
    public bool Cancel()
    {
        lock (_gate)
        {
            _pendingUpstream = default;
            SignalSendEnded();
            SignalIfSettled();
            return !_pendingLost;
        }
    }

    /// <summary>Test hook: runs as <see cref="Commit"/> begins, once the upstream stage took the request, before the book records it.</summary>
    internal Action? BeforeCommitForTest { get; set; }

    /// <summary>The connection that waits longest for an answer read on <paramref name="upstream"/>; false when none does.</summary>
    public bool TryTake(ConnectionId upstream, out ConnectionId requester)
    {
        lock (_gate)
        {
            if (_waiting.TryGetValue(upstream, out var queue) && queue.TryDequeue(out requester))
            {
                _waitingCount--;
                _delivering++;
                SignalRoom();
                return true;
            }
            if (_pendingUpstream == upstream && upstream != default && !_pendingTaken)
            {
                _pendingTaken = true;
                requester = _pendingRequester;
                _delivering++;
                return true;
            }
            requester = default;
            return false;
        }
    }

    /// <summary>
    /// The upstream connection ended: the answers to its requests can no longer come. Returns the clients of the requests
    /// that were waiting, one entry per request, and of the one being sent on it (its answer cannot come either): the caller
    /// settles and counts each.
    /// </summary>
    /// <remarks>
    /// The request being sent is given up here, not when its sender commits it: it was marked taken and then dropped by
    /// <see cref="Commit"/> without a word, so its half-closed client lingered for the whole <c>half_close_linger</c> and the
    /// loss was counted nowhere. Its sender learns it from <see cref="Cancel"/> (false) when the send failed as well.
    /// </remarks>
    public IReadOnlyCollection<ConnectionId> Forget(ConnectionId upstream)
    {
        lock (_gate)
        {
            var lostPending = _pendingUpstream == upstream && upstream != default && !_pendingTaken;
            if (lostPending)
            {
                _pendingTaken = true;
                _pendingLost = true;
            }
            IReadOnlyCollection<ConnectionId> waited = _waiting.Remove(upstream, out var queue) ? queue : [];
            _waitingCount -= waited.Count;
            IReadOnlyCollection<ConnectionId> forgotten = lostPending ? [.. waited, _pendingRequester] : waited;
            SignalRoom();
            SignalIfSettled();
            return forgotten;
        }
    }

    /// <summary>An answer <see cref="TryTake"/> gave was handed to the server stage (or could not be): it is no longer on its way.</summary>
    public void Delivered()
    {
        lock (_gate)
        {
            _delivering--;
            SignalIfSettled();
        }
    }
}
