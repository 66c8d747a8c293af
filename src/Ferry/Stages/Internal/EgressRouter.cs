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

    /// <summary>Drop and disconnect policies: never waits, so it may hold the registry lock while enqueueing.</summary>
    private int RouteNow(in EgressMessage message, int length, bool heldCounts)
    {
        switch (message.Target)
        {
            case EgressTargetKind.Connection:
                if (table.TryGet(message.Connection, out var c) && writer.Enqueue(c, message.Payload.Span, message.Fields, length) == EnqueueResult.Queued)
                    return 1;
                // A connection still in its session handshake is not connected yet for the application.
                if (c is null || c.Closed || !c.Established)
                    CountUnknownTarget(message.Connection);
                return 0;
            case EgressTargetKind.All:
                return RouteToAllNow(message, length, heldCounts);
            case EgressTargetKind.Group:
                return RouteToGroupNow(message, length);
            case EgressTargetKind.Any:
                return any.RouteNow(message, length);
            default:
                throw new ArgumentOutOfRangeException(nameof(message), message.Target, "unknown egress target");
        }
    }

    private int RouteToAllNow(in EgressMessage message, int length, bool heldCounts)
    {
        var delivered = 0;
        lock (table.Sync)
        {
            if (table.EstablishedCountLocked == 0)
                return held.HoldOrDropLocked(message, writer.Encoder) && heldCounts ? 1 : 0;
            var payload = message.Payload.Span;
            foreach (var target in table.ListLocked)
                if (target.Id != message.Except && writer.Enqueue(target, payload, message.Fields, length) == EnqueueResult.Queued)
                    delivered++;
        }
        return delivered;
    }

    private int RouteToGroupNow(in EgressMessage message, int length)
    {
        var delivered = 0;
        lock (groups.Sync)
        {
            if (groups.MembersLocked(message.Group) is not { } members)
                return 0;
            var payload = message.Payload.Span;
            foreach (var c in members)
                if (c.Id != message.Except && writer.Enqueue(c, payload, message.Fields, length) == EnqueueResult.Queued)
                    delivered++;
        }
        return delivered;
    }

    private async ValueTask<int> RouteWaitingAsync(EgressMessage message, int length, bool heldCounts, CancellationToken cancellationToken)
    {
        Connection[] targets;
        switch (message.Target)
        {
            case EgressTargetKind.Connection:
                if (!table.TryGet(message.Connection, out var one))
                {
                    CountUnknownTarget(message.Connection);
                    return 0;
                }
                targets = [one];
                break;
            case EgressTargetKind.All:
                lock (table.Sync)
                {
                    if (table.EstablishedCountLocked == 0)
                        return held.HoldOrDropLocked(message, writer.Encoder) && heldCounts ? 1 : 0;
                    targets = table.ListLocked.ToArray();
                }
                break;
            case EgressTargetKind.Any:
                return await any.RouteWaitingAsync(message, length, cancellationToken).ConfigureAwait(false);
            default:
                targets = groups.Members(message.Group);
                break;
        }
        // Every connection with room takes the message first; only then is the publisher held for the full
        // ones. Waiting in target order would make one stalled client delay everyone listed after it, and a
        // cancelled wait would keep the message from connections that had room all along.
        var delivered = 0;
        List<Connection>? full = null;
        foreach (var c in targets)
        {
            if (c.Id == message.Except)
                continue;
            var result = writer.Enqueue(c, message.Payload.Span, message.Fields, length);
            if (result == EnqueueResult.Full)
                (full ??= []).Add(c);
            else if (result == EnqueueResult.Queued)
                delivered++;
            else if (result is EnqueueResult.NotReady or EnqueueResult.Closed && message.Target == EgressTargetKind.Connection)
                CountUnknownTarget(message.Connection); // as RouteNow does: closing, or still in its handshake
        }
        if (full is null)
            return delivered;
        // One deadline for the message: the publisher is held up to the wait timeout in all, not once per full
        // connection in turn (a hundred stalled members of a room would hold it for minutes). Those still full
        // at the deadline have it dropped and counted.
        var deadline = writer.WaitDeadlineMs();
        foreach (var c in full)
            if (await writer.WaitAndEnqueueAsync(c, message.Payload, message.Fields, length, cancellationToken, deadline).ConfigureAwait(false) == EnqueueResult.Queued)
                delivered++;
        return delivered;
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
