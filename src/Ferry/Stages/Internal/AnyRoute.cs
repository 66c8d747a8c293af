using Ferry.Connections;
using Ferry.Framing;

namespace Ferry.Stages.Internal;

/// <summary>
/// The "any one" target: each message goes to exactly one established connection, the next in turn
/// with room, as a ZeroMQ PUSH socket does. Full connections are passed over; only when every one is
/// full does the policy act, once. Owns the turn counter.
/// </summary>
internal sealed class AnyRoute(ConnectionTable table, ConnectionWriter writer, HeldEgress held, ServiceLoop loop, StageClock clock, TimeSpan waitTimeout)
{
    private int _next;

    /// <summary>
    /// Drop and disconnect policies: the next connection with room takes the message; when every one
    /// is full it is dropped once, charged to the one whose turn it was (under disconnect it goes as a
    /// slow consumer). <see cref="AnyOutcome.NoPeer"/> after holding or dropping the message as a broadcast to nobody.
    /// </summary>
    public AnyOutcome RouteNow(in EgressMessage message, int length)
    {
        AnyOutcome outcome;
        Connection? turn;
        lock (table.Sync)
        {
            outcome = EnqueueLocked(message.Payload.Span, message.Fields, length, out turn, full: null);
            if (outcome == AnyOutcome.NoPeer)
                held.HoldOrDropLocked(message, writer.Encoder);
        }
        if (outcome == AnyOutcome.AllFull)
            writer.Drop(turn!, length);
        return outcome;
    }

    /// <summary>The wait policy: waits up to the egress wait timeout for room, then drops (<see cref="AnyOutcome.AllFull"/>).</summary>
    public async ValueTask<AnyOutcome> RouteWaitingAsync(EgressMessage message, int length, CancellationToken cancellationToken)
    {
        var (outcome, waitedOn) = await SendAsync(message.Payload, message.Fields, waitTimeout, cancellationToken, holdWhenNoPeer: message).ConfigureAwait(false);
        if (outcome == AnyOutcome.AllFull && waitedOn is not null)
            writer.Drop(waitedOn, length);
        return outcome;
    }

    /// <summary>
    /// One round that never waits, so a caller can try before it sets up cancellation.
    /// <paramref name="firstFull"/> is the connection to wait on when every one is full.
    /// </summary>
    public AnyOutcome TryEnqueue(ReadOnlySpan<byte> payload, in FrameFields fields, out Connection? firstFull)
    {
        var length = writer.EncodedLength(payload.Length);
        lock (table.Sync)
            return EnqueueLocked(payload, fields, length, out firstFull, full: null);
    }

    /// <summary>
    /// Hands a message to exactly one established connection; when every one is full, waits for the
    /// first to make room, up to <paramref name="timeout"/> (then <see cref="AnyOutcome.AllFull"/> with the
    /// connection waited on). Never counts a drop for the message itself: <see cref="AnyOutcome.AllFull"/> with a connection
    /// means the message is not taken and not counted, and a caller that gives it up charges it to that connection
    /// (<see cref="CountGivenUp"/>), while one that tries again later (the frame bridge) counts nothing for this attempt.
    /// With no established connection it completes with <see cref="AnyOutcome.NoPeer"/> at once, after holding <paramref name="holdWhenNoPeer"/> as a broadcast to nobody is held, when
    /// given; the bridge passes none and waits for a peer itself.
    /// </summary>
    public async ValueTask<(AnyOutcome Outcome, Connection? WaitedOn)> SendAsync(ReadOnlyMemory<byte> payload, FrameFields fields, TimeSpan timeout,
        CancellationToken cancellationToken, EgressMessage? holdWhenNoPeer = null)
    {
        var length = writer.EncodedLength(payload.Length);
        var deadline = timeout == Timeout.InfiniteTimeSpan ? long.MaxValue : clock.NowMsFresh + (long)timeout.TotalMilliseconds;
        // Only a message that finds every connection full needs the list of them: allocated then.
        List<Connection>? full = null;
        while (true)
        {
            AnyOutcome outcome;
            Connection? waitOn;
            full?.Clear();
            lock (table.Sync)
            {
                outcome = EnqueueLocked(payload.Span, fields, length, out waitOn, full);
                if (outcome == AnyOutcome.NoPeer && holdWhenNoPeer is { } message)
                    held.HoldOrDropLocked(message, writer.Encoder);
            }
            if (outcome != AnyOutcome.AllFull)
                return (outcome, null);
            if (full is null)
            {
                full = [];
                continue; // once more, collecting every full connection to wait on
            }
            var left = deadline == long.MaxValue ? long.MaxValue : deadline - clock.NowMsFresh;
            if (left <= 0)
                return (AnyOutcome.AllFull, waitOn);
            if (loop.MustNotWait)
            {
                // The loop must not wait: the connection whose turn it was takes the message past its
                // limit and the senders being published are held instead (see EnqueueHolding).
                BeforeHoldForTest?.Invoke(waitOn!);
                // A close decided since EnqueueLocked (even as a slow consumer) passes the connection over, nothing counted.
                var held = writer.EnqueueHolding(waitOn!, payload.Span, fields, length, passOverClosing: true);
                if (held == EnqueueResult.Closed)
                    continue; // that one has just closed or is closing: look at the others again
                return HoldOutcome(held, waitOn!);
            }
            var waiter = ServiceLoop.CurrentNotInHandler;
            if (waiter is { CrossStageHolds: { } holds } && !waiter.TryWaitFor(loop))
            {
                // Another stage's service thread must not wait for a stage that waits for it (see CrossStageHolds).
                BeforeHoldForTest?.Invoke(waitOn!);
                var held = holds.Enqueue(writer, waitOn!, writer.RoomFor(waitOn!), payload.Span, fields, length, passOverClosing: true);
                if (held == EnqueueResult.Closed)
                    continue;
                return HoldOutcome(held, waitOn!);
            }
            var spaces = writer.WaitersForSpace(full, length);
            if (spaces is null)
            {
                waiter?.DoneWaiting();
                continue; // one made room or closed meanwhile: the next round finds out
            }
            var timedOut = false;
            try
            {
                // Whichever full connection makes room first takes the message.
                var first = Task.WhenAny(spaces);
                if (left == long.MaxValue)
                    await first.WaitAsync(cancellationToken).ConfigureAwait(false);
                else
                    await first.WaitAsync(TimeSpan.FromMilliseconds(Math.Min(left, int.MaxValue)), clock.Time, cancellationToken).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
                // The next round sends if room appeared at the last moment, or gives up.
                timedOut = true;
            }
            finally
            {
                waiter?.DoneWaiting();
            }
            // Timed out on a service thread (a fake clock moved there): the next round and the caller go on elsewhere (see
            // ServiceLoop.OnAnyServiceThread).
            if (timedOut && ServiceLoop.OnAnyServiceThread)
                await Task.Yield();
        }
    }

    /// <summary>
    /// What a hold for a full connection answered. <see cref="EnqueueResult.Full"/>: the hold is over and nothing was counted;
    /// the connection is named for the caller to charge if it gives the message up (a caller that tries again later must not have
    /// a message it delivers counted as dropped too).
    /// </summary>
    /// <remarks>
    /// <see cref="EnqueueResult.Closed"/> never comes here: the callers look at the other connections again. A connection whose close
    /// was decided after <see cref="EnqueueLocked"/> found it full (a slow consumer's close: a peer flooding PINGs, on the other
    /// stage's thread when the hold is a cross-stage one) answers Closed too, since the holds are asked to pass it over: before, it
    /// answered <see cref="EnqueueResult.Dropped"/> with a drop counted, and the frame bridge tried the frame again and delivered
    /// it, one frame counted dropped and sent.
    /// <see cref="EnqueueResult.NotReady"/> never comes here either, so the frame bridge is never left waiting (on <c>AllFull</c> with
    /// no connection named) for room on a connection whose TLS or session handshake has yet to end. The connection held for is
    /// the one <see cref="EnqueueLocked"/> found full, and it tries only connections already established; a connection in its
    /// TLS handshake, its PROXY header or its session (ZMTP) handshake is not, and is passed over before any hold. And
    /// <see cref="Connection.Established"/> never goes back to false once set (<c>ConnectionTable.EstablishLocked</c> is its
    /// only writer): a connection that was established when chosen still is when its hold answers. A bridge's PUSH stage is no
    /// exception: its connections count as peers only from their <c>Connected</c> event, raised when they are established.
    /// Anything else (none is expected) is answered as every connection full, with none named: nothing to charge.
    /// </remarks>
    private static (AnyOutcome Outcome, Connection? WaitedOn) HoldOutcome(EnqueueResult held, Connection waitedOn) => held switch
    {
        EnqueueResult.Queued => (AnyOutcome.Queued, null),
        EnqueueResult.Full => (AnyOutcome.AllFull, waitedOn),
        _ => (AnyOutcome.AllFull, null),
    };

    /// <summary>
    /// Test hook: runs on the sender's thread after every connection was found full and before the hold for the one named, so a
    /// test can have that connection's close decided in between. Only on the path that holds, never on the fast path.
    /// </summary>
    internal Action<Connection>? BeforeHoldForTest { get; set; }

    /// <summary>
    /// A message given up after <see cref="SendAsync"/> answered <see cref="AnyOutcome.AllFull"/> naming
    /// <paramref name="waitedOn"/>: counted as dropped, charged to that connection, as the stage's own senders are. Any thread.
    /// </summary>
    public void CountGivenUp(Connection waitedOn, int payloadLength) => writer.Drop(waitedOn, writer.EncodedLength(payloadLength));

    /// <summary>
    /// Completes when an established connection may take a message of <paramref name="payloadLength"/> bytes again: its buffer
    /// drained to the low-water mark, or it closed. At once when one has room now, or none is established and open (the caller then
    /// finds out which by sending). Registered on every established connection before their room is checked, so no wake-up
    /// is missed. Any thread; it allocates, for a sender that found every connection full.
    /// </summary>
    public Task WhenRoom(int payloadLength)
    {
        var length = writer.EncodedLength(payloadLength);
        var established = new List<Connection>();
        // A closing connection takes no message, whatever room it has: counting it would answer "room" at once, over and over
        // until it has closed. Its departure is a change of the peers, which the caller waits for too.
        lock (table.Sync)
            foreach (var c in table.ListLocked)
                if (c.Established && !c.Closing)
                    established.Add(c);
        if (established.Count == 0)
            return Task.CompletedTask;
        var spaces = writer.WaitersForSpace(established, length);
        return spaces is null ? Task.CompletedTask : Task.WhenAny(spaces);
    }

    /// <summary>
    /// One pass over the established connections from the next in turn; full ones are passed over (and
    /// collected in <paramref name="full"/> when given). Under the table lock.
    /// </summary>
    private AnyOutcome EnqueueLocked(ReadOnlySpan<byte> payload, in FrameFields fields, int length, out Connection? firstFull, List<Connection>? full)
    {
        firstFull = null;
        if (table.EstablishedCountLocked == 0)
            return AnyOutcome.NoPeer;
        var list = table.ListLocked;
        var start = (int)((uint)_next % (uint)list.Length);
        // When nobody takes it, the next message starts one further (past the one charged for a drop).
        _next = start + 1;
        for (var i = 0; i < list.Length; i++)
        {
            var at = (start + i) % list.Length;
            var c = list[at];
            if (!c.Established)
                continue;
            var result = writer.Enqueue(c, payload, fields, length, passOverWhenFull: true);
            if (result == EnqueueResult.Queued)
            {
                // The next turn is the one after the connection that took it: a connection passed over (full,
                // or still in its handshake) costs the others no turn, so turns stay even.
                _next = at + 1;
                return AnyOutcome.Queued;
            }
            if (result != EnqueueResult.Full)
                continue;
            firstFull ??= c;
            full?.Add(c);
        }
        return firstFull is null ? AnyOutcome.NoPeer : AnyOutcome.AllFull;
    }
}
