using System.Collections.Concurrent;
using Ferry.Connections;
using Microsoft.Extensions.Logging;

namespace Ferry.Stages.Internal;

/// <summary>
/// The per-connection model (<c>MapConnections</c>): for every established connection an inbox and a
/// handler task, started on the thread pool; pausing and resuming reads as inboxes fill and drain; the end
/// of a handler closes its connection. Beside the packet-group model, not instead of it: packets still go
/// to <c>packet_group</c> subscribers when there are any. Under <see cref="HandlerScheduling.Inline"/> the
/// handlers that a round's reads woke are run on the service thread by <see cref="RunInline"/>, each timed
/// against the inline budget.
/// </summary>
/// <remarks>Threads: <see cref="OnEstablished"/>, <see cref="OnClosed"/>, <see cref="TakeResumes"/>, <see cref="RunInline"/>
/// and pauses on the service thread; resumes are posted from handlers' threads.</remarks>
internal sealed class ConnectionHandlers : IInboxOwner
{
    private readonly ConnectionHandler _handler;
    private readonly int _capacity;
    private readonly int _byteCapacity;
    private readonly bool _inline;
    private readonly TimeSpan _budget;
    private readonly long _budgetUnits;
    /// <summary>Inline handlers the round's reads woke, in order; swapped with <see cref="_runNow"/> while they run. Service thread.</summary>
    private List<ConnectionInbox> _runSoon = [];
    private List<ConnectionInbox> _runNow = [];
    private readonly StageEngine _engine;
    private readonly ConnectionWriter _writer;
    private readonly ConcurrentQueue<Connection> _resumes = new();
    private readonly ConcurrentDictionary<Connection, CancellationTokenSource> _running = new();
    private readonly CancellationTokenSource _stopping = new();
    /// <summary>Held while a handler's failure is reported, and when the stage abandons the handlers still running.</summary>
    private readonly Lock _reporting = new();
    /// <summary>The stage has ended (<see cref="Abandon"/>): a handler that ends later is logged, never raised as an event.</summary>
    private bool _abandoned;

    public ConnectionHandlers(ConnectionHandler handler, ConnectionHandlerOptions options, StageEngine engine, ConnectionWriter writer)
    {
        _handler = handler;
        _capacity = options.MaxQueuedMessages;
        _byteCapacity = options.MaxQueuedBytes;
        _inline = options.Scheduling == HandlerScheduling.Inline;
        _budget = options.InlineBudget;
        _budgetUnits = engine.Clock.ToTimestampUnits(options.InlineBudget);
        _engine = engine;
        _writer = writer;
    }

    public bool HasPosted => !_resumes.IsEmpty;

    /// <summary>Handlers running now.</summary>
    public int Running => _running.Count;

    /// <summary>A connection is ready for messages: give it an inbox and start its handler. Service thread.</summary>
    public void OnEstablished(Connection c)
    {
        var inbox = new ConnectionInbox(c, _capacity, _byteCapacity, this, _inline);
        c.Inbox = inbox;
        var closed = CancellationTokenSource.CreateLinkedTokenSource(_stopping.Token);
        _running[c] = closed;
        var connection = new FerryConnection(c, inbox, _engine, closed.Token);
        // The handler starts on the thread pool, whatever the scheduling: what it does before it first reads
        // (setup, a greeting, a lookup) is not timed against the inline budget.
        _ = Task.Run(() => RunAsync(c, connection, closed));
    }

    private async Task RunAsync(Connection c, FerryConnection connection, CancellationTokenSource closed)
    {
        CloseRequest end;
        try
        {
            await _handler(connection, closed.Token).ConfigureAwait(false);
            end = Ended();
        }
        catch (OperationCanceledException) when (closed.IsCancellationRequested)
        {
            end = Ended();
        }
        catch (Exception ex)
        {
            var events = _engine.Events;
            Log.HandlerFailed(events.Logger, events.Stage, nameof(ConnectionHandler), ex);
            // Under the lock, so the report comes before the stage's Closed event or not at all: a handler the
            // stop abandoned was reported then, and its late failure is only logged.
            lock (_reporting)
                if (!_abandoned)
                    events.RaiseError(StageErrorKind.Handler, $"the connection handler of {c.Id} failed: {ex.Message}", c.Id, logAs: WarningKind.HandlerFailed);
            end = new CloseRequest(DisconnectReason.HandlerEnded, "handler failed: " + ex.Message, null) { Flush = true };
        }
        // What a reader left part-read goes back to the pool; nothing reads it any more.
        c.Inbox?.HandlerEnded();
        // The close is asked for before the handler stops counting as running: a stop that sees no handler
        // running then also sees its close request, and closes the connection with what it sent flushed.
        _engine.RequestClose(c, end);
        _running.TryRemove(c, out _);
        closed.Dispose();
        if (_engine.Loop.IsStopping)
            _engine.Loop.Wake(); // the stop may be waiting for this handler
    }

    /// <summary>
    /// The close a handler's own end asks for: <c>handler_ended</c>, or <c>server_stopping</c> (<c>client_stopping</c>) when the stage is
    /// stopping (the stop cancelled its token; the stop now waits for handlers, so their connections close here).
    /// A connection whose peer had finished sending closes as <c>remote_closed</c> once the answer is written
    /// (<see cref="ConnectionWriter.Flush"/>), whichever reason is asked for.
    /// </summary>
    private CloseRequest Ended()
        => new(_engine.Loop.IsStopping ? _engine.StoppingReason : DisconnectReason.HandlerEnded, null, null) { Flush = true };

    /// <summary>
    /// The stage has ended: handlers still running did not end within the stop grace period. They are reported
    /// once, here, before the stage's Closed event, and abandoned (their connections are closed and their tokens
    /// cancelled); whatever they do later raises no event of the stage. Service thread, last thing before Closed.
    /// </summary>
    public void Abandon(TimeSpan grace)
    {
        lock (_reporting)
        {
            _abandoned = true;
            var left = _running.Keys.OrderBy(c => c.Id.Sequence).Select(c => c.Id.ToString()).ToList();
            if (left.Count == 0)
                return;
            const int named = 10;
            var ids = string.Join(", ", left.Take(named)) + (left.Count > named ? $" and {left.Count - named} more" : "");
            _engine.Events.RaiseError(StageErrorKind.Handler,
                $"{left.Count} connection handler(s) did not end within the stop grace period ({grace.TotalMilliseconds:0.###} ms) after their tokens were cancelled, " +
                $"and were abandoned: {ids}. A handler should end when its token is cancelled or its ReadAsync ends");
        }
    }

    /// <summary>The connection closed: the handler reads what is left, then its reading ends and its token is cancelled. Service thread.</summary>
    public void OnClosed(Connection c)
    {
        // Cancel, then complete: a handler whose reading ends finds its token cancelled, and the
        // cancellation does not cut the reading short (the inbox is closing by then).
        c.Inbox?.BeginClose();
        if (_running.TryGetValue(c, out var closed))
            CancelQuietly(closed);
        c.Inbox?.Complete();
    }

    /// <summary>The stage is stopping: every handler's token is cancelled.</summary>
    public void OnStopping() => CancelQuietly(_stopping);

    private static void CancelQuietly(CancellationTokenSource source)
    {
        try
        {
            // Callbacks registered on the token run on the thread pool, never on the service thread.
            _ = source.CancelAsync();
        }
        catch (ObjectDisposedException)
        {
            // The handler ended and disposed it meanwhile.
        }
    }

    void IInboxOwner.RunSoon(ConnectionInbox inbox) => _runSoon.Add(inbox);

    /// <summary>
    /// Runs the inline handlers this round's reads woke, one after the other, each until its next wait, and
    /// times each run. Service thread, after the reads: a handler never runs inside a read, so whatever it
    /// does (send, close, join a group) meets the stage between connections.
    /// </summary>
    /// <remarks>
    /// A handler is moved to the thread pool for good on its second run over the budget within
    /// <see cref="OverrunWindow"/>, not on its first: one run can be stretched by what is not the handler's
    /// doing (the thread preempted by another process, a first call compiled), and a handler that really
    /// blocks or computes overruns again at once. Garbage-collection pauses are not counted against it.
    /// </remarks>
    public void RunInline()
    {
        if (_runSoon.Count == 0)
            return;
        // Only reads list handlers, and none happen while these run; the swap keeps that true by construction.
        (_runSoon, _runNow) = (_runNow, _runSoon);
        var time = _engine.Clock.Time;
        var loop = _engine.Loop;
        loop.RunningInlineHandler = true;
        try
        {
            foreach (var inbox in _runNow)
            {
                var pausedBefore = GC.GetTotalPauseDuration();
                var started = time.GetTimestamp();
                inbox.RunListed();
                var ended = time.GetTimestamp();
                if (ended - started > _budgetUnits && inbox.IsInline)
                    Overran(inbox, time.GetElapsedTime(started, ended) - (_engine.Clock.IsSystem ? GC.GetTotalPauseDuration() - pausedBefore : TimeSpan.Zero), ended);
            }
        }
        finally
        {
            loop.RunningInlineHandler = false;
            _runNow.Clear();
        }
    }

    /// <summary>Two overruns this close together move a handler to the thread pool.</summary>
    private static readonly TimeSpan OverrunWindow = TimeSpan.FromSeconds(1);

    private void Overran(ConnectionInbox inbox, TimeSpan held, long at)
    {
        // A run that ended the handler (it returned or threw) is not held against it: the connection closes.
        if (held <= _budget || !_running.ContainsKey(inbox.Connection))
            return;
        var time = _engine.Clock.Time;
        var previous = inbox.LastOverrun;
        inbox.LastOverrun = at;
        if (previous == 0 || time.GetElapsedTime(previous, at) > OverrunWindow)
            return;
        inbox.Demote();
        _engine.Events.RaiseWarning(WarningKind.InlineHandlerOverran, StageErrorKind.Handler,
            $"the inline connection handler of {inbox.Connection.Id} held the service thread for {held.TotalMilliseconds:F1} ms " +
            $"(inline budget {_budget.TotalMilliseconds:F1} ms), the second time within {OverrunWindow.TotalSeconds:F0} s, stalling every connection of the stage meanwhile; " +
            "it runs on the thread pool from now on. Handlers that block or compute at length should use HandlerScheduling.ThreadPool",
            inbox.Connection.Id);
    }

    void IInboxOwner.PauseReads(Connection c)
    {
        c.InboxFull = true;
        _writer.UpdateInterest(c);
    }

    void IInboxOwner.ResumeReads(Connection c)
    {
        _resumes.Enqueue(c);
        if (!_engine.Loop.OnServiceThread)
            _engine.Loop.Wake();
    }

    /// <summary>Reads connections again whose handlers have drained their inboxes. Service thread.</summary>
    public void TakeResumes()
    {
        while (_resumes.TryDequeue(out var c))
        {
            // A resume asked for before a later pause must not undo that pause: the inbox says whether one is in effect.
            if (!c.InboxFull || c.Inbox is not { IsPaused: false })
                continue;
            c.InboxFull = false;
            // The idle and frame deadlines start again: while paused, the silence was the stage's.
            c.LastReceiveMs = _engine.Clock.NowMs;
            if (c.Pending is not null)
                c.PartialSinceMs = _engine.Clock.NowMs;
            if (_engine.Table.IsLive(c))
                _writer.UpdateInterest(c);
        }
    }
}
