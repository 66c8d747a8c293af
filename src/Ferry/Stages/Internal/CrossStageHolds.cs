using System.Collections.Concurrent;
using Ferry.Connections;
using Ferry.Framing;

namespace Ferry.Stages.Internal;

/// <summary>
/// The <c>wait</c> policy when this stage's service thread sends to another stage's full connection (a
/// route from this stage's packet groups to a stage that waits) while that stage waits for this one
/// (<see cref="ServiceLoop.TryWaitFor"/>). Waiting then would block both threads, each for a flush only the
/// other can do: both stall until the wait timeout and drop, while every client reads. So, as within one stage
/// (<see cref="ConnectionWriter.EnqueueHolding"/>), the message is queued past the receiver's limit and this
/// stage stops reading the connections whose packets it is publishing, until the receiver has room again or
/// its wait timeout passes (after which messages for it are dropped until it has room). Service thread,
/// except the room notices, which come from the other stage.
/// </summary>
internal sealed class CrossStageHolds(ConnectionWriter writer, StageClock clock, ServiceLoop loop)
{
    private sealed class Hold(long deadlineMs)
    {
        public readonly long DeadlineMs = deadlineMs;
        /// <summary>This stage's connections not read for the receiver's sake; null once let go.</summary>
        public List<Connection>? Sources;
    }

    /// <summary>Per full receiver (another stage's connection): the hold this stage keeps for it.</summary>
    private readonly Dictionary<Connection, Hold> _holds = [];
    private readonly ConcurrentQueue<Connection> _roomAppeared = new();

    /// <summary>Whether a receiver has reported room (the loop must not sleep).</summary>
    public bool HasPosted => !_roomAppeared.IsEmpty;

    /// <summary>
    /// Queues a message for <paramref name="target"/>, a full connection of the stage whose writer is
    /// <paramref name="targetWriter"/>, and holds this stage's publishing senders; <paramref name="room"/>
    /// completes when the target has room again or closes. Service thread. Once the target has stayed full past its wait
    /// timeout the message is not taken: <see cref="EnqueueResult.Full"/>, not counted as a drop (the caller knows
    /// whether it gives the message up or tries again: see <see cref="ConnectionWriter.EnqueueHolding"/>).
    /// <paramref name="passOverClosing"/>: a target whose close was decided answers <see cref="EnqueueResult.Closed"/>, nothing
    /// counted (the any-one route; see <see cref="ConnectionWriter.EnqueuePastLimit"/>).
    /// </summary>
    public EnqueueResult Enqueue(ConnectionWriter targetWriter, Connection target, Task room, ReadOnlySpan<byte> payload, in FrameFields fields, int length,
        bool passOverClosing = false)
    {
        if (_holds.TryGetValue(target, out var hold))
        {
            if (clock.NowMs >= hold.DeadlineMs)
                return EnqueueResult.Full;
        }
        else
        {
            hold = new Hold(clock.NowMs + targetWriter.WaitTimeoutMs);
            _holds.Add(target, hold);
            room.ContinueWith(static (_, state) =>
            {
                var (holds, c) = ((CrossStageHolds, Connection))state!;
                holds.RoomAppeared(c);
            }, (this, target), CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        }
        var result = targetWriter.EnqueuePastLimit(target, payload, fields, length, passOverClosing);
        if (result == EnqueueResult.Queued && clock.NowMs < hold.DeadlineMs)
            writer.HoldPublishingSources(ref hold.Sources);
        return result;
    }

    private void RoomAppeared(Connection target)
    {
        _roomAppeared.Enqueue(target);
        loop.Wake();
    }

    /// <summary>Lets go of the senders held for receivers that have room again (or closed). Service thread.</summary>
    public void TakeRoomNotices()
    {
        while (_roomAppeared.TryDequeue(out var target))
            if (_holds.Remove(target, out var hold))
                Release(hold);
    }

    /// <summary>Lets the senders go once a receiver has stayed full past its wait timeout. Service thread.</summary>
    public void OnTimer()
    {
        foreach (var hold in _holds.Values)
            if (hold.Sources is not null && clock.NowMs >= hold.DeadlineMs)
                Release(hold);
    }

    /// <summary>The earliest deadline of a hold with senders (stage ms); long.MaxValue when none.</summary>
    public long NextDueMs()
    {
        var next = long.MaxValue;
        foreach (var hold in _holds.Values)
            if (hold.Sources is not null)
                next = Math.Min(next, hold.DeadlineMs);
        return next;
    }

    private void Release(Hold hold)
    {
        var sources = hold.Sources;
        hold.Sources = null;
        writer.ReleaseSources(sources);
    }
}
