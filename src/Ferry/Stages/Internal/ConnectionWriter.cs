using System.Buffers;
using System.Collections.Concurrent;
using Ferry.Connections;
using Ferry.Framing;
using Ferry.Framing.Internal;
using Ferry.Transport;

namespace Ferry.Stages.Internal;

/// <summary>The outcome of handing one message to one connection's egress buffer.</summary>
internal enum EnqueueResult
{
    Queued,
    Dropped,
    Closed,
    /// <summary>The connection's session has not finished its handshake: it takes no messages yet.</summary>
    NotReady,
    /// <summary>
    /// No room, and the policy is <c>wait</c> (or the caller passes over full connections), or a hold for a full connection is over;
    /// nothing was counted: a caller that gives the message up counts the drop.
    /// </summary>
    Full,
}

/// <summary>
/// Each connection's way out: encodes messages into its bounded egress buffer under its egress lock,
/// applies the overflow policy, and writes to the socket, gathering every message queued in a loop
/// round into one send. Any thread enqueues; the service thread flushes (other threads post the
/// connection and wake the loop).
/// </summary>
/// <remarks>
/// Why one type of about 440 lines: the overflow policies (drop, disconnect, wait off the loop, and
/// holding senders on the loop) all decide on the same state under the same egress lock — buffer
/// length, flush scheduling, readiness interest — and the hold ends inside a flush. Split apart,
/// each piece would reach into the others' fields; together, every field here has one owner.
/// </remarks>
internal sealed class ConnectionWriter
{
    /// <summary>Payloads from this size on are written through when the egress buffer is empty.</summary>
    private const int DirectSendBytes = 8 * 1024;
    /// <summary>A deferred flush (a connection handler's sends) is done at once when this much is queued.</summary>
    private const int DeferredFlushMaxBytes = 64 * 1024;

    private readonly IFrameEncoder _encoder;
    private readonly bool _writeThrough;
    private readonly int _limit;
    private readonly int _deferredFlushBytes;
    private readonly EgressOverflowPolicy _overflow;
    private readonly TimeSpan _waitTimeout;
    private readonly long _halfCloseLingerMs;
    private readonly StageCounters _counters;
    private readonly ServiceLoop _loop;
    private readonly IReadiness _readiness;
    private readonly IConnectionLifecycle _lifecycle;
    private readonly StageClock _clock;
    private readonly PacketGrouper _grouper;
    private readonly ConnectionTable _table;
    /// <summary>Full connections whose senders are held (wait policy on the service thread). Service thread.</summary>
    private readonly List<Connection> _holding = [];
    /// <summary>Connections written to on the service thread this round (service thread only).</summary>
    private readonly List<Connection> _dirty = [];
    /// <summary>Connections written to by other threads, handed to the loop.</summary>
    private readonly ConcurrentQueue<Connection> _posted = new();
    /// <summary>Writes the header of a message whose payload is then sent from the caller's memory (write-through), when the framing can.</summary>
    private readonly IFrameHeaderWriter? _headerWriter;
    /// <summary>The managed id of the thread gathering its sends (<see cref="BeginCallerBatch"/>), or 0.</summary>
    private int _batchThread;
    /// <summary>Connections the batching thread wrote to; it flushes them itself at the end of its batch.</summary>
    private readonly List<Connection> _batched = [];

    public ConnectionWriter(CoreSettings settings, StageCounters counters, ServiceLoop loop, IReadiness readiness, IConnectionLifecycle lifecycle,
        StageClock clock, PacketGrouper grouper, ConnectionTable table)
    {
        _grouper = grouper;
        _table = table;
        _encoder = settings.Framing.Encoder;
        _headerWriter = _encoder as IFrameHeaderWriter;
        _writeThrough = settings.Framing.IsRaw || _headerWriter is not null;
        _limit = settings.EgressBufferBytes;
        _deferredFlushBytes = Math.Min(DeferredFlushMaxBytes, Math.Max(1, _limit / 2));
        _overflow = settings.EgressOverflow;
        _waitTimeout = settings.EgressWaitTimeout;
        _halfCloseLingerMs = (long)settings.HalfCloseLinger.TotalMilliseconds;
        _counters = counters;
        _loop = loop;
        _readiness = readiness;
        _lifecycle = lifecycle;
        _clock = clock;
    }

    public int Limit => _limit;

    public EgressOverflowPolicy Overflow => _overflow;

    public IFrameEncoder Encoder => _encoder;

    public int EncodedLength(int payloadLength) => _encoder.GetEncodedLength(payloadLength);

    /// <summary>Whether flushes are waiting (the loop must not sleep).</summary>
    public bool HasPosted => _dirty.Count > 0 || !_posted.IsEmpty;

    /// <summary>
    /// Encodes one message into a connection's bounded egress buffer. Any thread; never waits. With
    /// <paramref name="passOverWhenFull"/> a full buffer answers <see cref="EnqueueResult.Full"/> whatever
    /// the policy, and a closing connection <see cref="EnqueueResult.Closed"/> (no drop counted), so a router
    /// choosing among connections can try the next one.
    /// </summary>
    /// <remarks>A <c>deferredFlush</c> is given by a connection handler's <c>SendAsync</c>: instead of handing the
    /// connection to the service loop (a wake-up per call), its flush is queued on the calling thread pool
    /// thread's own queue, so it runs when the handler yields the thread (awaits its next messages, or anything
    /// else): everything the handler sent meanwhile goes out in one send from that thread. See <see cref="DeferredFlushFor"/>.</remarks>
    public EnqueueResult Enqueue(Connection c, ReadOnlySpan<byte> payload, in FrameFields fields, int encodedLength, bool passOverWhenFull = false,
        IThreadPoolWorkItem? deferredFlush = null)
    {
        bool schedule;
        var flushNow = false;
        lock (c.EgressLock)
        {
            if (c.Closed)
                return EnqueueResult.Closed;
            if (!c.Established)
                return EnqueueResult.NotReady;
            // A close was asked for (every request marks the connection first): it takes no new message, which would be
            // written or cut by the close while its sender was told it was queued. What was queued before the request is
            // written first, as the kill switch promises. One read on the common path; the reason only once closing.
            // A router choosing among connections passes a closing one over as it passes a full one: the message is not lost
            // here (the next connection takes it, or the router's "nobody" counts or holds it), so no drop is counted for it.
            if (c.Closing)
                return passOverWhenFull ? EnqueueResult.Closed : RefuseClosingLocked(c, encodedLength);
            // Under wait, a message larger than the whole buffer is taken once the buffer is empty:
            // waiting cannot make more room than that, and dropping it would lose it silently.
            if (c.Egress.Length + encodedLength > _limit && !(_overflow == EgressOverflowPolicy.Wait && c.Egress.IsEmpty))
            {
                if (_overflow == EgressOverflowPolicy.Wait || passOverWhenFull)
                    return EnqueueResult.Full;
                // A message no buffer of this size could hold says nothing about the client: under disconnect
                // it is dropped (and counted) like under drop, and the client stays.
                DropLocked(c, encodedLength, slowConsumer: encodedLength <= _limit);
                return EnqueueResult.Dropped;
            }
            if (encodedLength >= DirectSendBytes && _writeThrough && c.Egress.IsEmpty && !c.WantsWritable)
            {
                // A large message with nothing queued ahead of it goes straight to the socket: no copy
                // into the egress buffer; only what the kernel does not take is queued.
                if (SendThroughLocked(c, payload, fields))
                {
                    c.PacketsOut++;
                    Interlocked.Increment(ref _counters.PacketsOut);
                    return EnqueueResult.Queued;
                }
            }
            else
            {
                _encoder.Encode(payload, fields, c.Egress);
                // A handler sending a lot without yielding its thread: don't let it fill the buffer unsent.
                flushNow = deferredFlush is not null && c.Egress.Length >= _deferredFlushBytes;
            }
            c.PacketsOut++;
            schedule = !c.FlushScheduled;
            c.FlushScheduled = true;
        }
        Interlocked.Increment(ref _counters.PacketsOut);
        if (flushNow)
            FlushFromCaller(c);
        else if (schedule)
            Schedule(c, deferredFlush);
        return EnqueueResult.Queued;
    }

    /// <summary>
    /// The work item that flushes <paramref name="c"/> from a thread pool thread (see the deferredFlush
    /// parameter of <see cref="Enqueue"/>). One per connection handler, made once.
    /// </summary>
    public IThreadPoolWorkItem DeferredFlushFor(Connection c) => new DeferredFlush(this, c);

    /// <summary>A connection handler's flush, run when the handler's thread is free again.</summary>
    private sealed class DeferredFlush(ConnectionWriter writer, Connection c) : IThreadPoolWorkItem
    {
        public void Execute() => writer.FlushFromCaller(c);
    }

    /// <summary>
    /// Protocol bytes a session may queue past the egress limit: its answers are not refused for a full
    /// buffer (a PONG behind a full buffer of messages under the wait policy), but a peer that keeps asking
    /// (PINGs) and never reads cannot make them grow without bound.
    /// </summary>
    private const int SessionBytesPastLimit = 64 * 1024;

    /// <summary>
    /// Queues protocol bytes a session wrote (greeting, handshake reply, PONG) ahead of later egress. A peer
    /// whose unread answers reach the egress limit plus <see cref="SessionBytesPastLimit"/> is closed as a slow
    /// consumer and the answer is dropped (its bytes counted). Service thread.
    /// </summary>
    public void WriteSessionBytes(Connection c, ReadOnlySpan<byte> bytes)
    {
        bool schedule;
        lock (c.EgressLock)
        {
            if (c.Closed)
                return;
            if ((long)c.Egress.Length + bytes.Length > (long)_limit + SessionBytesPastLimit)
            {
                c.EgressBytesDropped += bytes.Length;
                _counters.CountDroppedBytes(bytes.Length);
                if (c.CloseRequested is null)
                {
                    c.CloseRequested = new CloseRequest(DisconnectReason.SlowConsumer,
                        $"the peer asks for protocol answers (PING) and does not read them: {c.Egress.Length} bytes unread, over the egress buffer ({_limit} bytes)", null);
                    _lifecycle.RequestClose(c, c.CloseRequested);
                }
                return;
            }
            schedule = !c.FlushScheduled;
            c.Egress.Write(bytes);
            c.FlushScheduled = true;
        }
        if (schedule)
            _dirty.Add(c);
    }

    private void Schedule(Connection c, IThreadPoolWorkItem? deferredFlush = null)
    {
        if (_loop.OnServiceThread)
        {
            _dirty.Add(c);
            return;
        }
        if (deferredFlush is not null)
        {
            // preferLocal: the flush waits in this thread's own queue behind the handler's synchronous run,
            // so a handler that answers each message of a batch pays one send for the batch.
            ThreadPool.UnsafeQueueUserWorkItem(deferredFlush, preferLocal: true);
            return;
        }
        if (Volatile.Read(ref _batchThread) == Environment.CurrentManagedThreadId)
        {
            _batched.Add(c);
            return;
        }
        Post(c);
    }

    private void Post(Connection c)
    {
        _posted.Enqueue(c);
        _loop.Wake();
    }

    /// <summary>
    /// From now until <see cref="EndCallerBatch"/>, what the calling thread enqueues is not handed to the
    /// service loop: the caller writes it to the sockets itself when the batch ends, one send per
    /// connection for everything it queued. The frame bridge's receiving loop uses this to echo a round
    /// of frames with no hand-off to this stage's thread. One batching thread at a time; other threads'
    /// messages take the usual path meanwhile. False (and no batch) when another thread is batching.
    /// </summary>
    public bool BeginCallerBatch() =>
        Interlocked.CompareExchange(ref _batchThread, Environment.CurrentManagedThreadId, 0) == 0;

    /// <summary>Ends the calling thread's batch: writes what it queued; what the kernel does not take goes to the loop.</summary>
    public void EndCallerBatch()
    {
        // Index loop: flushing never adds to the list.
        for (var i = 0; i < _batched.Count; i++)
            FlushFromCaller(_batched[i]);
        _batched.Clear();
        Volatile.Write(ref _batchThread, 0);
    }

    /// <summary>
    /// A batching caller's flush: sends under the egress lock until the kernel takes no more. Whatever is
    /// left (a full socket, an error, a held publisher to release) is handed to the service loop, which
    /// owns readiness interest, errors and holds.
    /// </summary>
    private void FlushFromCaller(Connection c)
    {
        TaskCompletionSource? waiter = null;
        bool toLoop;
        lock (c.EgressLock)
        {
            if (c.Closed)
                return;
            var error = 0;
            // While the loop waits for the socket to become writable, the kernel has no room: don't try.
            while (!c.WantsWritable && !c.Egress.IsEmpty)
            {
                var span = c.Egress.Pending;
                c.SendCalls++;
                var n = c.Io.Send(span, out error);
                if (n <= 0)
                    break;
                c.Egress.Consume(n);
                c.BytesOut += n;
                if (n < span.Length)
                    break;
            }
            toLoop = !c.Egress.IsEmpty || error != 0 || c.HoldDeadlineMs != long.MaxValue || c.PeerFinished;
            if (!toLoop)
                c.FlushScheduled = false;
            if (c.SpaceWaiter is not null && HasRoomToResume(c))
            {
                waiter = c.SpaceWaiter;
                c.SpaceWaiter = null;
            }
        }
        waiter?.TrySetResult();
        if (toLoop)
            Post(c);
    }

    /// <summary>
    /// Counts a message dropped for a connection; under disconnect, the connection goes as a slow consumer
    /// unless <paramref name="slowConsumer"/> is false (a message larger than the whole buffer). Under its egress lock.
    /// </summary>
    public void DropLocked(Connection c, int encodedLength, bool slowConsumer = true)
    {
        c.EgressBytesDropped += encodedLength;
        c.EgressPacketsDropped++;
        _counters.CountDropped(encodedLength);
        if (slowConsumer && _overflow == EgressOverflowPolicy.Disconnect && c.CloseRequested is null)
        {
            c.CloseRequested = new CloseRequest(DisconnectReason.SlowConsumer, $"egress buffer full ({_limit} bytes)", null);
            _lifecycle.RequestClose(c, c.CloseRequested);
        }
    }

    public void Drop(Connection c, int encodedLength)
    {
        lock (c.EgressLock)
            DropLocked(c, encodedLength, slowConsumer: encodedLength <= _limit);
    }

    /// <summary>When a wait for room that starts now gives up (stage ms): one deadline for a message, however many connections it waits for.</summary>
    public long WaitDeadlineMs() => _clock.NowMsFresh + (long)_waitTimeout.TotalMilliseconds;

    /// <summary>
    /// The <c>wait</c> policy: holds the caller until the client has room or the timeout passes (then drops).
    /// <paramref name="deadlineMs"/> (from <see cref="WaitDeadlineMs"/>) is the message's deadline when it waits for
    /// several connections in turn; by default the wait timeout runs from now.
    /// </summary>
    public async ValueTask<EnqueueResult> WaitAndEnqueueAsync(Connection c, ReadOnlyMemory<byte> payload, FrameFields fields, int length, CancellationToken cancellationToken,
        long? deadlineMs = null)
    {
        var deadline = deadlineMs ?? WaitDeadlineMs();
        var timedOut = false;
        while (true)
        {
            Task space;
            lock (c.EgressLock)
            {
                if (c.Closed)
                    return EnqueueResult.Closed;
                c.SpaceWaiter ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                space = c.SpaceWaiter.Task;
            }
            var result = Enqueue(c, payload.Span, fields, length);
            if (result != EnqueueResult.Full)
                return result;
            var left = deadline - _clock.NowMsFresh;
            if (left <= 0)
                break;
            // An inline connection handler awaits the room like a pool thread would (its await frees the loop).
            if (_loop.MustNotWait)
                return DropWhenHoldOver(c, EnqueueHolding(c, payload.Span, fields, length), length);
            // Another stage's service thread (a route from its packet groups) must not wait when this stage
            // waits for it: each would wait for a flush only the other can do.
            var waiter = ServiceLoop.CurrentNotInHandler;
            if (waiter is { CrossStageHolds: { } holds } && !waiter.TryWaitFor(_loop))
                return DropWhenHoldOver(c, holds.Enqueue(this, c, space, payload.Span, fields, length), length);
            try
            {
                await space.WaitAsync(TimeSpan.FromMilliseconds(Math.Min(left, int.MaxValue)), _clock.Time, cancellationToken).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
                timedOut = true;
                break;
            }
            finally
            {
                waiter?.DoneWaiting();
            }
        }
        Drop(c, length);
        // Timed out on a service thread (a fake clock moved there): the caller goes on elsewhere (see OnAnyServiceThread).
        if (timedOut && ServiceLoop.OnAnyServiceThread)
            await Task.Yield();
        return EnqueueResult.Dropped;
    }

    /// <summary>
    /// A sender that gives the message up when the hold for its connection is over (<see cref="EnqueueResult.Full"/> from
    /// <see cref="EnqueueHolding"/> or <see cref="CrossStageHolds.Enqueue"/>): the drop is counted here, once.
    /// </summary>
    private EnqueueResult DropWhenHoldOver(Connection c, EnqueueResult result, int length)
    {
        if (result != EnqueueResult.Full)
            return result;
        Drop(c, length);
        return EnqueueResult.Dropped;
    }

    /// <summary>
    /// The <c>wait</c> policy on the service thread, where waiting would stall every connection of the
    /// stage: the message is queued past the limit, and the connections whose packets are being
    /// published stop being read until <paramref name="c"/> has room again, so their clients' TCP
    /// windows close instead (for an inline echo, that is the sender itself). The overshoot is bounded
    /// by what one publish carries. If <paramref name="c"/> stays full past <c>egress_wait_timeout</c>,
    /// the held connections are let go and later messages for it are not taken: <see cref="EnqueueResult.Full"/>,
    /// not counted as a drop here, because only the caller knows whether the message is lost (a publisher that
    /// gives it up counts the drop) or tried again later (the frame bridge, which waits for room: see <see cref="AnyRoute"/>).
    /// <paramref name="passOverClosing"/>: see <see cref="EnqueuePastLimit"/>.
    /// </summary>
    public EnqueueResult EnqueueHolding(Connection c, ReadOnlySpan<byte> payload, in FrameFields fields, int length, bool passOverClosing = false)
    {
        if (c.HoldDeadlineMs != long.MaxValue && _clock.NowMs >= c.HoldDeadlineMs)
            return EnqueueResult.Full;
        var result = EnqueuePastLimit(c, payload, fields, length, passOverClosing);
        if (result != EnqueueResult.Queued)
            return result;
        if (c.HoldDeadlineMs == long.MaxValue)
        {
            c.HoldDeadlineMs = _clock.NowMs + (long)_waitTimeout.TotalMilliseconds;
            _holding.Add(c);
        }
        var held = c.HeldSources;
        HoldPublishingSources(ref held);
        c.HeldSources = held;
        return EnqueueResult.Queued;
    }

    /// <summary>
    /// Queues a message past the egress limit: the caller holds its own senders instead of waiting (see
    /// <see cref="EnqueueHolding"/> and <see cref="CrossStageHolds"/>). Any thread. With <paramref name="passOverClosing"/>
    /// (the any-one route) a connection whose close was decided answers <see cref="EnqueueResult.Closed"/> and nothing is counted,
    /// as <see cref="Enqueue"/> answers with passOverWhenFull: the route gives the message to another connection or reports
    /// its own outcome. Without it (a message for this connection alone) a slow consumer's close drops and counts it.
    /// </summary>
    public EnqueueResult EnqueuePastLimit(Connection c, ReadOnlySpan<byte> payload, in FrameFields fields, int length, bool passOverClosing = false)
    {
        bool schedule;
        lock (c.EgressLock)
        {
            if (c.Closed)
                return EnqueueResult.Closed;
            if (!c.Established)
                return EnqueueResult.NotReady;
            // Past the limit or not, a connection whose close was decided takes no new message (as in Enqueue): the hold paths
            // reach here after Enqueue found the connection full, and a close asked for by another thread in between would
            // otherwise have the message queued for the close to cut, its sender told it was queued.
            // The any-one route found this connection full and only then chose to hold for it: a close decided in between (a
            // peer flooding PINGs, see WriteSessionBytes) must not count a drop for a message the route still delivers elsewhere.
            if (c.Closing)
                return passOverClosing ? EnqueueResult.Closed : RefuseClosingLocked(c, length);
            _encoder.Encode(payload, fields, c.Egress);
            c.PacketsOut++;
            schedule = !c.FlushScheduled;
            c.FlushScheduled = true;
        }
        Interlocked.Increment(ref _counters.PacketsOut);
        if (schedule)
            Schedule(c);
        return EnqueueResult.Queued;
    }

    /// <summary>
    /// A message for a connection whose close was decided: closed as a slow consumer, abortively (what is queued is
    /// discarded), it is dropped and counted, and said so; any other close is no connection. Under the connection's egress lock.
    /// </summary>
    private EnqueueResult RefuseClosingLocked(Connection c, int encodedLength)
    {
        if (c.CloseRequested is { Reason: DisconnectReason.SlowConsumer })
        {
            DropLocked(c, encodedLength, slowConsumer: false);
            return EnqueueResult.Dropped;
        }
        return EnqueueResult.Closed;
    }

    /// <summary>How long a <c>wait</c> publisher is held for one connection before its messages are dropped.</summary>
    public long WaitTimeoutMs => (long)_waitTimeout.TotalMilliseconds;

    /// <summary>
    /// Stops reading the connections whose packets this stage is publishing now (the senders of the
    /// message that found its target full), adding them to <paramref name="held"/>. Service thread.
    /// </summary>
    public void HoldPublishingSources(ref List<Connection>? held)
    {
        if (_grouper.Publishing is not { } group)
            return;
        foreach (var packet in group)
        {
            if (!_table.TryGet(packet.ConnectionId, out var source) || source.ReadPaused)
                continue;
            source.ReadPaused = true;
            UpdateInterest(source);
            (held ??= []).Add(source);
        }
    }

    /// <summary>Lets go of the connections held for <paramref name="target"/>'s sake. Service thread.</summary>
    private void ReleaseSources(Connection target)
    {
        var sources = target.HeldSources;
        target.HeldSources = null;
        ReleaseSources(sources);
    }

    /// <summary>Reads held connections again; their idle and frame deadlines start again (the silence was the stage's). Service thread.</summary>
    public void ReleaseSources(List<Connection>? sources)
    {
        if (sources is null)
            return;
        foreach (var source in sources)
        {
            source.ReadPaused = false;
            if (!_table.IsLive(source))
                continue;
            source.LastReceiveMs = _clock.NowMs;
            if (source.Pending is not null)
                source.PartialSinceMs = _clock.NowMs;
            UpdateInterest(source);
        }
    }

    /// <summary>The earliest hold deadline (stage ms); long.MaxValue when nothing is held.</summary>
    public long NextDueMs()
    {
        var next = long.MaxValue;
        foreach (var c in _holding)
            if (c.HeldSources is not null)
                next = Math.Min(next, c.HoldDeadlineMs);
        return next;
    }

    /// <summary>Lets held connections go once their target has stayed full past the wait timeout. Service thread.</summary>
    public void OnTimer()
    {
        foreach (var c in _holding)
            if (c.HeldSources is not null && _clock.NowMs >= c.HoldDeadlineMs)
                ReleaseSources(c);
    }

    /// <summary>A connection that held senders has room again (or closed): they are read again.</summary>
    private void EndHold(Connection c)
    {
        c.HoldDeadlineMs = long.MaxValue;
        _holding.Remove(c);
        ReleaseSources(c);
    }

    /// <summary>
    /// The peer has finished sending (it shut down its side, a FIN): when egress is still queued for it,
    /// it is no longer read and closes once that is written (<see cref="Flush"/>); false when nothing is
    /// queued (close now). With <c>half_close_linger</c> it stays open that long for answers still to come
    /// (<see cref="TimeoutScanner"/> ends the linger). A connection handler's connection always stays open: its handler's reading ends,
    /// it may still answer, and the connection closes once the handler has ended and its answer is written.
    /// Service thread.
    /// </summary>
    public bool DrainAfterPeerFinished(Connection c)
    {
        if (c.PeerFinished || !c.Established)
            return false;
        if (c.Inbox is { } inbox)
        {
            lock (c.EgressLock)
                if (c.Closed)
                    return false;
            c.PeerFinished = true;
            UpdateInterest(c);
            inbox.PeerFinished();
            return true;
        }
        var linger = _halfCloseLingerMs > 0;
        if (linger && LingerWanted is { } wanted)
        {
            // Marked first: whoever settles the connection's last answer from now on sees it and ends the linger (EndLinger).
            Volatile.Write(ref c.PeerFinished, true);
            // Its last requests may still sit in the open group: published now, so that they count as owed.
            if (_grouper.HasOpenPackets)
                _grouper.PublishOpen();
            linger = wanted(c.Id);
        }
        var empty = false;
        lock (c.EgressLock)
        {
            if (c.Closed || (c.Egress.IsEmpty && !linger))
                return false;
            empty = c.Egress.IsEmpty;
        }
        c.PeerFinished = true;
        if (linger)
            c.LingerUntilMs = _clock.NowMs + _halfCloseLingerMs;
        UpdateInterest(c);
        if (empty)
            return true;
        if (!c.FlushScheduled)
            Flush(c);
        return true;
    }

    /// <summary>
    /// Whether a connection whose peer finished sending is to linger (<c>half_close_linger</c>) at all: set by <c>ferry run</c>'s
    /// reply route, for which it lingers only while its client is owed an answer. Null: it always lingers. Service thread.
    /// </summary>
    public Func<ConnectionId, bool>? LingerWanted { get; set; }

    /// <summary>
    /// Ends a connection's <c>half_close_linger</c> early (nothing more will come for it): it closes now when nothing is queued
    /// for it, else once that is written. Service thread.
    /// </summary>
    public void EndLinger(Connection c)
    {
        if (c.LingerUntilMs == 0 || !c.PeerFinished || !_table.IsLive(c))
            return;
        c.LingerUntilMs = 0;
        bool empty;
        lock (c.EgressLock)
            empty = c.Egress.IsEmpty;
        if (empty)
            _lifecycle.Close(c, DisconnectReason.RemoteClosed, "the peer had finished sending; every answer owed to it has been written");
        else
            Flush(c);
    }

    /// <summary>What readiness watches a connection for: reading unless paused (held by the <c>wait</c>
    /// policy, or its handler's inbox is full) or the peer has finished sending, writing while bytes wait. Service thread.</summary>
    public void UpdateInterest(Connection c)
    {
        var interest = (c.ReadPaused || c.InboxFull || c.PeerFinished ? ReadyFlags.None : ReadyFlags.Readable) | (c.WantsWritable ? ReadyFlags.Writable : ReadyFlags.None);
        _readiness.Change(c.Io, interest, c.Token);
    }

    /// <summary>
    /// Whether a waiting sender is woken: once the buffer has drained to half its limit (a low-water
    /// mark, as ZeroMQ's pipes have), not as soon as one byte went out. Waking at the limit would let the
    /// sender add one message and wait again, a thread wake-up per message for as long as the peer is
    /// slower; from half full, a waiter refills half a buffer per wake-up. Under the egress lock.
    /// </summary>
    private bool HasRoomToResume(Connection c) => c.Egress.Length <= _limit / 2;

    /// <summary>Whether a connection has room for a message of <paramref name="length"/> bytes now (or has closed).</summary>
    public bool SpaceAppeared(Connection c, int length)
    {
        lock (c.EgressLock)
            return c.Closed || c.Egress.IsEmpty || c.Egress.Length + length <= _limit;
    }

    /// <summary>Completes when <paramref name="c"/> has room again (down to its low-water mark) or closes.</summary>
    public Task RoomFor(Connection c)
    {
        lock (c.EgressLock)
        {
            if (c.Closed)
                return Task.CompletedTask;
            c.SpaceWaiter ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            return c.SpaceWaiter.Task;
        }
    }

    /// <summary>
    /// Registers for space on each full connection; null when one of them already has room or has
    /// closed (checked after registering, so no wake-up is missed).
    /// </summary>
    public Task[]? WaitersForSpace(List<Connection> full, int length)
    {
        var spaces = new Task[full.Count];
        for (var i = 0; i < full.Count; i++)
        {
            var c = full[i];
            lock (c.EgressLock)
            {
                if (c.Closed)
                    return null;
                c.SpaceWaiter ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                spaces[i] = c.SpaceWaiter.Task;
            }
            if (SpaceAppeared(c, length))
                return null;
        }
        return spaces;
    }

    /// <summary>
    /// Write-through under the egress lock: the framing's header (none for raw), then the payload from the
    /// caller's memory. False when the kernel did not take it all; the rest is then in the egress buffer.
    /// </summary>
    private bool SendThroughLocked(Connection c, ReadOnlySpan<byte> payload, in FrameFields fields)
    {
        if (_headerWriter is not null)
        {
            Span<byte> header = stackalloc byte[IFrameHeaderWriter.MaxHeaderBytes];
            header = header[.._headerWriter.WriteHeader(payload.Length, fields, header)];
            var headerSent = SendDirectLocked(c, header);
            if (headerSent < header.Length)
            {
                c.Egress.Write(header[headerSent..]);
                c.Egress.Write(payload);
                return false;
            }
        }
        var sent = SendDirectLocked(c, payload);
        if (sent == payload.Length)
            return true;
        c.Egress.Write(payload[sent..]);
        return false;
    }

    /// <summary>One non-blocking send under the egress lock; bytes taken (0 when the socket is full or failed: the flush reports errors).</summary>
    private static int SendDirectLocked(Connection c, ReadOnlySpan<byte> payload)
    {
        c.SendCalls++;
        var n = c.Io.Send(payload, out _);
        if (n <= 0)
            return 0;
        c.BytesOut += n;
        return n;
    }

    /// <summary>Takes the connections other threads wrote to into this round's flush list. Service thread.</summary>
    public void TakePosted()
    {
        while (_posted.TryDequeue(out var c))
            _dirty.Add(c);
    }

    /// <summary>Writes what each connection has queued: one send per connection per loop round. Service thread.</summary>
    public void FlushDirty()
    {
        // Index loop: flushing never adds to the list, and closing only marks connections.
        for (var i = 0; i < _dirty.Count; i++)
            Flush(_dirty[i]);
        _dirty.Clear();
    }

    /// <summary>Writes what a connection has queued until the kernel takes no more. Service thread.</summary>
    public void Flush(Connection c)
    {
        var error = 0;
        bool pending;
        TaskCompletionSource? waiter = null;
        lock (c.EgressLock)
        {
            c.FlushScheduled = false;
            if (c.Closed)
                return;
            while (!c.Egress.IsEmpty)
            {
                var span = c.Egress.Pending;
                c.SendCalls++; // counted before the call: the peer may see the bytes before send() returns
                var n = c.Io.Send(span, out error);
                if (n <= 0)
                    break;
                c.Egress.Consume(n);
                c.BytesOut += n;
                if (n < span.Length)
                    break; // the kernel buffer is full; readiness tells when it has room
            }
            pending = !c.Egress.IsEmpty;
            // This flush ends the connection (a failed write, or the last byte for a peer that finished sending): it is
            // marked closing before a waiting sender is let go, which would otherwise queue its message for the close
            // to drop. The close (just below) wakes that sender, which finds the connection closed.
            if (error != 0 || (c.PeerFinished && !pending && ClosesWhenDrained(c)))
                c.Closing = true;
            else if (c.SpaceWaiter is not null && HasRoomToResume(c))
            {
                waiter = c.SpaceWaiter;
                c.SpaceWaiter = null;
            }
        }
        waiter?.TrySetResult();
        if (error != 0)
        {
            // A write that failed in TLS itself (the session had taken the peer's alert on its read side) is the TLS error
            // the read would report; closed as a reset, a server's refusal looked like a lost connection.
            _lifecycle.Close(c, error == IConnectionIo.HandshakeFailedError ? DisconnectReason.TlsError : DisconnectReason.Reset, c.Io.DescribeError(error));
            return;
        }
        if (pending != c.WantsWritable)
        {
            c.WantsWritable = pending;
            UpdateInterest(c);
        }
        if (c.HoldDeadlineMs != long.MaxValue && c.Egress.Length < _limit)
            EndHold(c);
        // A handler's connection waits for its handler's end as well: until then more answers may come; a
        // lingering one (half_close_linger) for the end of its linger.
        if (c.PeerFinished && !pending && ClosesWhenDrained(c))
            _lifecycle.Close(c, DisconnectReason.RemoteClosed, "the peer had finished sending; what was queued for it has been written");
    }

    /// <summary>
    /// Whether a connection whose peer finished sending closes once its egress is written: not while its handler may
    /// still answer, nor while it lingers (half_close_linger). Service thread.
    /// </summary>
    private static bool ClosesWhenDrained(Connection c) => c.Inbox is not { HasHandlerEnded: false } && c.LingerUntilMs == 0;

    /// <summary>Test hook: runs on the service thread as a close begins to retire the connection, after the close was decided.</summary>
    internal Action<Connection>? BeforeRetireForTest { get; set; }

    /// <summary>Marks a connection closed for egress and frees its buffer; a held publisher is let go. Service thread, at close.</summary>
    public void Retire(Connection c)
    {
        BeforeRetireForTest?.Invoke(c);
        TaskCompletionSource? waiter;
        lock (c.EgressLock)
        {
            c.Closed = true;
            // Egress that never went out is lost with the connection: counted, as a drop is, so that what was
            // queued equals what was sent plus what was dropped. What the transport took and sends with the close
            // (TLS ciphertext held for a byte it reported not taken) is sent.
            if (!c.Egress.IsEmpty && c.Io.SentWithClose is var sent and > 0)
            {
                c.Egress.Consume(sent);
                c.BytesOut += sent;
            }
            if (!c.Egress.IsEmpty)
            {
                c.EgressBytesDropped += c.Egress.Length;
                _counters.CountDroppedBytes(c.Egress.Length);
            }
            c.Egress.Release();
            waiter = c.SpaceWaiter;
            c.SpaceWaiter = null;
            // The descriptor is closed under the lock, so a sender on another thread that checked
            // Closed under this lock can never write to a closed or reused descriptor.
            c.Io.Dispose();
        }
        waiter?.TrySetResult();
        if (c.HoldDeadlineMs != long.MaxValue)
            EndHold(c);
    }

    /// <summary>Whether any connection still has egress queued (graceful stop waits for it). Service thread.</summary>
    public static bool AnyQueued(ReadOnlySpan<Connection> connections)
    {
        foreach (var c in connections)
            lock (c.EgressLock)
                if (!c.Egress.IsEmpty)
                    return true;
        return false;
    }
}
