using Ferry.Connections;
using Ferry.Framing;

namespace Ferry.Stages.Internal;

/// <summary>
/// Decides which connections a message goes to (one, a group, everyone, or any one in turn) and hands
/// it to each one's writer. Any thread. Under the drop and disconnect policies it never waits, so it
/// may enqueue while holding the table or group lock; under wait it takes a snapshot first and waits
/// outside every lock.
/// </summary>
internal sealed class EgressRouter(ConnectionTable table, GroupRegistry groups, ConnectionWriter writer, HeldEgress held,
    AnyRoute any, StageCounters counters, EventSink events)
{
    /// <summary>The stage's own subscription to <c>egress_packets</c>: routes and enqueues; waits only under the <c>wait</c> policy.</summary>
    public ValueTask HandleEgressAsync(EgressMessage message, CancellationToken cancellationToken)
    {
        // A publish whose token is already cancelled is not sent, as with the stage's own send methods: the publisher
        // gave up on it, and a message queued after all would reach the peer while the caller believes it did not.
        if (cancellationToken.IsCancellationRequested)
            return ValueTask.FromCanceled(cancellationToken);
        if (message.Target == EgressTargetKind.Group && string.IsNullOrWhiteSpace(message.Group))
        {
            // SendWithOutcomeAsync refuses it as an argument; a publisher on the bus can be told only by the stage's Error
            // event. Silently, it went to no group and nothing said why.
            events.RaiseError(StageErrorKind.Egress, $"an egress message to a group needs the group's name; Group is {(message.Group is null ? "null" : $"'{message.Group}'")}: "
                + "the message is dropped (EgressMessage.ToGroup builds one with its name)");
            return default;
        }
        try
        {
            var routing = RouteAsync(message, cancellationToken);
            return routing.IsCompletedSuccessfully ? default : AwaitRouting(routing, message.Connection);
        }
        catch (FramingException ex)
        {
            events.RaiseError(StageErrorKind.Egress, ex.Message, message.Connection);
            return default;
        }
    }

    private async ValueTask AwaitRouting(ValueTask<int> routing, ConnectionId connection)
    {
        try
        {
            await routing.ConfigureAwait(false);
        }
        catch (FramingException ex)
        {
            events.RaiseError(StageErrorKind.Egress, ex.Message, connection);
        }
    }

    /// <summary>Delivers a message to its targets; completes with how many connections took it.</summary>
    /// <param name="message">What to send, to whom.</param>
    /// <param name="cancellationToken">Ends a wait for room (the <c>wait</c> policy).</param>
    /// <param name="heldCounts">A message to everyone that nobody took because nobody is connected counts as taken
    /// (1) when it was held for the first connection: the client stage's one connection, which is coming.</param>
    public ValueTask<int> RouteAsync(EgressMessage message, CancellationToken cancellationToken, bool heldCounts = false)
    {
        var length = writer.EncodedLength(message.Payload.Length);
        if (writer.Overflow != EgressOverflowPolicy.Wait)
            return new ValueTask<int>(RouteNow(message, length, heldCounts));
        return RouteWaitingAsync(message, length, heldCounts, cancellationToken);
    }

    /// <summary>
    /// What became of a message, as the writer found it when it handed the message over (not a second look at the table
    /// afterwards, which a connection closing meanwhile would answer wrong). For everyone or a group: queued when at least one
    /// connection took it, dropped when there were connections and the overflow policy dropped it for every one, otherwise no
    /// connection. The bool sends and the bus's messages to one connection take this path too.
    /// </summary>
    public ValueTask<SendOutcome> SendAsync(in EgressMessage message, CancellationToken cancellationToken)
    {
        var length = writer.EncodedLength(message.Payload.Length);
        var wait = writer.Overflow == EgressOverflowPolicy.Wait;
        return message.Target switch
        {
            EgressTargetKind.Connection when wait => ToConnectionWaitingAsync(message, length, cancellationToken),
            EgressTargetKind.Connection => new ValueTask<SendOutcome>(ToConnectionNow(message, length)),
            EgressTargetKind.Any when wait => ToAnyWaitingAsync(message, length, cancellationToken),
            EgressTargetKind.Any => new ValueTask<SendOutcome>(Of(any.RouteNow(message, length))),
            _ when wait => FanoutOutcomeAsync(message, length, cancellationToken),
            EgressTargetKind.All => new ValueTask<SendOutcome>(RouteToAllNow(message, length, heldCounts: false).Outcome),
            EgressTargetKind.Group => new ValueTask<SendOutcome>(RouteToGroupNow(message, length).Outcome),
            _ => throw new ArgumentOutOfRangeException(nameof(message), message.Target, "unknown egress target"),
        };
    }

    private async ValueTask<SendOutcome> FanoutOutcomeAsync(EgressMessage message, int length, CancellationToken cancellationToken)
        => (await FanoutWaitingAsync(message, length, heldCounts: false, cancellationToken).ConfigureAwait(false)).Outcome;

    /// <summary>
    /// The client stage's send to its current connection (a message to everyone: the one connection there is, or the next
    /// one's hold while there is none): <see cref="SendOutcome.Held"/> when nobody was connected and the message was kept for
    /// the next connection, otherwise as for everyone (queued, dropped by the overflow policy, or no connection: not connected
    /// and not held, because the policy drops, the message alone is over the hold's bound, or no connection will come).
    /// </summary>
    public ValueTask<SendOutcome> SendToCurrentAsync(in EgressMessage message, CancellationToken cancellationToken)
    {
        var length = writer.EncodedLength(message.Payload.Length);
        if (writer.Overflow == EgressOverflowPolicy.Wait)
            return CurrentOutcomeAsync(message, length, cancellationToken);
        return new ValueTask<SendOutcome>(RouteToAllNow(message, length, heldCounts: false).OrHeld);
    }

    private async ValueTask<SendOutcome> CurrentOutcomeAsync(EgressMessage message, int length, CancellationToken cancellationToken)
        => (await FanoutWaitingAsync(message, length, heldCounts: false, cancellationToken).ConfigureAwait(false)).OrHeld;

    /// <summary>
    /// A message to several connections: how many took it, for how many the overflow policy dropped it, and whether, with
    /// nobody connected, it was held for the first connection.
    /// </summary>
    private readonly record struct Fanout(int Delivered, int Dropped, bool Held = false)
    {
        /// <summary>The server's outcome: a message held for nobody is no connection.</summary>
        public SendOutcome Outcome => Delivered > 0 ? SendOutcome.Queued : Dropped > 0 ? SendOutcome.Dropped : SendOutcome.NoConnection;

        /// <summary>The client stage's outcome: a message held for the next connection says so.</summary>
        public SendOutcome OrHeld => Held ? SendOutcome.Held : Outcome;
    }

    /// <summary>Nobody established: the message is held for the first connection or dropped (a broadcast to nobody). Under the table lock.</summary>
    private Fanout HoldLocked(in EgressMessage message, bool heldCounts)
    {
        var kept = held.HoldOrDropLocked(message, writer.Encoder);
        return new Fanout(kept && heldCounts ? 1 : 0, 0, kept);
    }

    /// <summary>Drop and disconnect policies: never waits, so it may hold the registry lock while enqueueing.</summary>
    private int RouteNow(in EgressMessage message, int length, bool heldCounts)
    {
        switch (message.Target)
        {
            case EgressTargetKind.Connection:
                return ToConnectionNow(message, length) == SendOutcome.Queued ? 1 : 0;
            case EgressTargetKind.All:
                return RouteToAllNow(message, length, heldCounts).Delivered;
            case EgressTargetKind.Group:
                return RouteToGroupNow(message, length).Delivered;
            case EgressTargetKind.Any:
                return any.RouteNow(message, length) == AnyOutcome.Queued ? 1 : 0;
            default:
                throw new ArgumentOutOfRangeException(nameof(message), message.Target, "unknown egress target");
        }
    }

    /// <summary>One connection, under the drop and disconnect policies (never waits).</summary>
    private SendOutcome ToConnectionNow(in EgressMessage message, int length)
    {
        if (!table.TryGet(message.Connection, out var c))
            return NoConnection(message.Connection);
        return Of(writer.Enqueue(c, message.Payload.Span, message.Fields, length), message.Connection);
    }

    /// <summary>
    /// One message to one connection without waiting, whatever the policy: under <c>wait</c>, <see cref="EnqueueResult.Full"/>
    /// when it has no room now (nothing counted: the caller waits for room elsewhere, or counts the message it gives up). A
    /// connection gone, closing or not ready counts as egress for an unknown target, as <see cref="RouteAsync"/> counts it.
    /// </summary>
    public EnqueueResult EnqueueNow(in EgressMessage message)
    {
        if (!table.TryGet(message.Connection, out var c))
        {
            CountUnknownTarget(message.Connection);
            return EnqueueResult.Closed;
        }
        var result = writer.Enqueue(c, message.Payload.Span, message.Fields, writer.EncodedLength(message.Payload.Length));
        if (result is EnqueueResult.Closed or EnqueueResult.NotReady)
            CountUnknownTarget(message.Connection);
        return result;
    }

    /// <summary>One connection under the wait policy: completes at once unless its buffer is full, then waits for room (up to the wait timeout).</summary>
    private ValueTask<SendOutcome> ToConnectionWaitingAsync(in EgressMessage message, int length, CancellationToken cancellationToken)
    {
        if (!table.TryGet(message.Connection, out var c))
            return new ValueTask<SendOutcome>(NoConnection(message.Connection));
        var result = writer.Enqueue(c, message.Payload.Span, message.Fields, length);
        if (result != EnqueueResult.Full)
            return new ValueTask<SendOutcome>(Of(result, message.Connection));
        return WaitForRoomAsync(c, message, length, cancellationToken);
    }

    private async ValueTask<SendOutcome> WaitForRoomAsync(Connection c, EgressMessage message, int length, CancellationToken cancellationToken)
        => Of(await writer.WaitAndEnqueueAsync(c, message.Payload, message.Fields, length, cancellationToken).ConfigureAwait(false), message.Connection);

    private async ValueTask<SendOutcome> ToAnyWaitingAsync(EgressMessage message, int length, CancellationToken cancellationToken)
        => Of(await any.RouteWaitingAsync(message, length, cancellationToken).ConfigureAwait(false));

    /// <summary>
    /// The writer's word for one connection: closed, closing or still in its handshake (not connected yet for the application)
    /// is no connection, and counted as egress for an unknown target; a drop is the overflow policy's.
    /// </summary>
    private SendOutcome Of(EnqueueResult result, ConnectionId id) => result switch
    {
        EnqueueResult.Queued => SendOutcome.Queued,
        // Full comes only under wait, whose caller waits for room instead; were it ever to come here, the buffer was full.
        EnqueueResult.Dropped or EnqueueResult.Full => SendOutcome.Dropped,
        _ => NoConnection(id),
    };

    private static SendOutcome Of(AnyOutcome outcome) => outcome switch
    {
        AnyOutcome.Queued => SendOutcome.Queued,
        AnyOutcome.AllFull => SendOutcome.Dropped,
        _ => SendOutcome.NoConnection,
    };

    private SendOutcome NoConnection(ConnectionId id)
    {
        CountUnknownTarget(id);
        return SendOutcome.NoConnection;
    }

    private Fanout RouteToAllNow(in EgressMessage message, int length, bool heldCounts)
    {
        int delivered = 0, dropped = 0;
        lock (table.Sync)
        {
            if (table.EstablishedCountLocked == 0)
                return HoldLocked(message, heldCounts);
            var payload = message.Payload.Span;
            foreach (var target in table.ListLocked)
                if (target.Id != message.Except)
                    Count(writer.Enqueue(target, payload, message.Fields, length), ref delivered, ref dropped);
        }
        return new Fanout(delivered, dropped);
    }

    private Fanout RouteToGroupNow(in EgressMessage message, int length)
    {
        int delivered = 0, dropped = 0;
        lock (groups.Sync)
        {
            if (groups.MembersLocked(message.Group) is not { } members)
                return default;
            var payload = message.Payload.Span;
            foreach (var c in members)
                if (c.Id != message.Except)
                    Count(writer.Enqueue(c, payload, message.Fields, length), ref delivered, ref dropped);
        }
        return new Fanout(delivered, dropped);
    }

    private static void Count(EnqueueResult result, ref int delivered, ref int dropped)
    {
        if (result == EnqueueResult.Queued)
            delivered++;
        else if (result == EnqueueResult.Dropped)
            dropped++;
    }

    private async ValueTask<int> RouteWaitingAsync(EgressMessage message, int length, bool heldCounts, CancellationToken cancellationToken)
        => message.Target switch
        {
            EgressTargetKind.Connection => await ToConnectionWaitingAsync(message, length, cancellationToken).ConfigureAwait(false) == SendOutcome.Queued ? 1 : 0,
            EgressTargetKind.Any => await any.RouteWaitingAsync(message, length, cancellationToken).ConfigureAwait(false) == AnyOutcome.Queued ? 1 : 0,
            _ => (await FanoutWaitingAsync(message, length, heldCounts, cancellationToken).ConfigureAwait(false)).Delivered,
        };

    /// <summary>Everyone or a group under the wait policy.</summary>
    private async ValueTask<Fanout> FanoutWaitingAsync(EgressMessage message, int length, bool heldCounts, CancellationToken cancellationToken)
    {
        Connection[] targets;
        if (message.Target == EgressTargetKind.All)
        {
            lock (table.Sync)
            {
                if (table.EstablishedCountLocked == 0)
                    return HoldLocked(message, heldCounts);
                targets = table.ListLocked.ToArray();
            }
        }
        else
            targets = groups.Members(message.Group);
        // Every connection with room takes the message first; only then is the publisher held for the full
        // ones. Waiting in target order would make one stalled client delay everyone listed after it, and a
        // cancelled wait would keep the message from connections that had room all along.
        int delivered = 0, dropped = 0;
        List<Connection>? full = null;
        foreach (var c in targets)
        {
            if (c.Id == message.Except)
                continue;
            var result = writer.Enqueue(c, message.Payload.Span, message.Fields, length);
            if (result == EnqueueResult.Full)
                (full ??= []).Add(c);
            else
                Count(result, ref delivered, ref dropped);
        }
        if (full is null)
            return new Fanout(delivered, dropped);
        // One deadline for the message: the publisher is held up to the wait timeout in all, not once per full
        // connection in turn (a hundred stalled members of a room would hold it for minutes). Those still full
        // at the deadline have it dropped and counted.
        var deadline = writer.WaitDeadlineMs();
        foreach (var c in full)
        {
            var result = await writer.WaitAndEnqueueAsync(c, message.Payload, message.Fields, length, cancellationToken, deadline).ConfigureAwait(false);
            Count(result, ref delivered, ref dropped);
        }
        return new Fanout(delivered, dropped);
    }

    /// <summary>
    /// One message to one connection a handler holds (no lookup by id); waits only under the <c>wait</c>
    /// policy. True when the connection took it.
    /// </summary>
    public ValueTask<bool> SendToAsync(Connection c, ReadOnlyMemory<byte> payload, FrameFields fields, CancellationToken cancellationToken,
        IThreadPoolWorkItem? deferredFlush = null)
    {
        var length = writer.EncodedLength(payload.Length);
        var result = writer.Enqueue(c, payload.Span, fields, length, deferredFlush: deferredFlush);
        if (result == EnqueueResult.Full)
            return WaitAndSendAsync(c, payload, fields, length, cancellationToken);
        return new ValueTask<bool>(result == EnqueueResult.Queued);
    }

    private async ValueTask<bool> WaitAndSendAsync(Connection c, ReadOnlyMemory<byte> payload, FrameFields fields, int length, CancellationToken cancellationToken)
        => await writer.WaitAndEnqueueAsync(c, payload, fields, length, cancellationToken).ConfigureAwait(false) == EnqueueResult.Queued;

    private void CountUnknownTarget(ConnectionId id)
    {
        Interlocked.Increment(ref counters.EgressUnknownTarget);
        Log.UnknownTarget(events.Logger, events.Stage, id);
    }
}
