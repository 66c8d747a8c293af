using System.Buffers;
using Ferry.Bus;
using Ferry.Connections;
using Ferry.Framing;

namespace Ferry.Stages.Internal;

/// <summary>
/// Collects packets into the open <see cref="PacketGroup"/> and publishes it on
/// <c>&lt;stage&gt;/packet_group</c> when it is full or has lingered long enough. Service thread.
/// </summary>
internal sealed class PacketGrouper
{
    private readonly PacketGroupPool _pool;
    private readonly ITopic<PacketGroup> _topic;
    private readonly StageCounters _counters;
    private readonly EventSink _events;
    private readonly StageClock _clock;
    private readonly long _lingerUnits;
    private readonly CancellationToken _stopForced;
    private PacketGroup? _open;
    /// <summary>Handlers marked <see cref="BackpressureHandlerAttribute"/> (looked up once per method).</summary>
    private static readonly System.Collections.Concurrent.ConcurrentDictionary<System.Reflection.MethodInfo, bool> WaitsOnPurpose = new();

    /// <summary>The group being published right now (its subscribers are running), else null.</summary>
    public PacketGroup? Publishing { get; private set; }
    private long _openedAt;
    private long _sequence;

    public PacketGrouper(string stage, int groupSize, TimeSpan linger, IMessageBus bus, StageCounters counters, EventSink events, CancellationToken stopForced)
    {
        _pool = new PacketGroupPool(stage, groupSize);
        _topic = DirectTopic.Of<PacketGroup>(bus, StageTopics.PacketGroup(stage));
        _counters = counters;
        _events = events;
        _clock = events.Clock;
        _lingerUnits = _clock.ToTimestampUnits(linger);
        _stopForced = stopForced;
        if (_topic is InProcessTopic<PacketGroup> inProcess)
            inProcess.InlineHandlerPending = WarnInlineHandlerAwaited;
    }

    /// <summary>
    /// An inline packet_group handler did not complete at once: the service thread now waits for it and
    /// every connection of the stage stalls. Almost always an <c>async</c> handler that awaits; said
    /// (rate-limited) so it is found, not guessed at from latency.
    /// </summary>
    private void WarnInlineHandlerAwaited(MessageHandler<PacketGroup> handler)
    {
        if (WaitsOnPurpose.GetOrAdd(handler.Method, static m => m.IsDefined(typeof(BackpressureHandlerAttribute), inherit: false)))
            return;
        var name = $"{handler.Method.DeclaringType?.FullName}.{handler.Method.Name}";
        _events.RaiseWarning(WarningKind.InlineHandlerAwaited, StageErrorKind.Handler,
            $"an inline {_topic.Name} handler ({name}) did not complete synchronously: the service thread waits for it and every connection " +
            "of the stage stalls meanwhile; do not await in inline handlers: use MapConnections, or SubscribeQueue for work that awaits");
    }

    /// <summary>The group packets go into now, opened on first use.</summary>
    public PacketGroup Open()
    {
        if (_open is null)
        {
            _open = _pool.Rent(++_sequence);
            _openedAt = _clock.NowTimestamp;
        }
        return _open;
    }

    public void Add(Connection c, ReadOnlySpan<byte> payload, in FrameFields fields)
    {
        if (c.Inbox is { } inbox)
        {
            inbox.Post(payload, fields, _clock.NowUtcTicks);
            if (_topic.SubscriberCount == 0)
            {
                CountIn(c);
                return;
            }
        }
        Open().Add(c.Id, c.Peer, _clock.NowUtcTicks, fields, payload);
        Added(c);
    }

    public void Add(Connection c, in ReadOnlySequence<byte> payload, in FrameFields fields)
    {
        if (c.Inbox is { } inbox)
        {
            // A connection with a handler: its message goes to its inbox, and to a group only when
            // someone subscribes to packet_group (both models on one stage).
            inbox.Post(payload, fields, _clock.NowUtcTicks);
            if (_topic.SubscriberCount == 0)
            {
                CountIn(c);
                return;
            }
        }
        Open().Add(c.Id, c.Peer, _clock.NowUtcTicks, fields, payload);
        Added(c);
    }

    private void CountIn(Connection c)
    {
        c.PacketsIn++;
        _counters.PacketsIn++;
    }

    /// <summary>Counts a packet already placed in the open group (raw receive) and publishes a full group.</summary>
    public void Added(Connection c)
    {
        CountIn(c);
        if (_open!.IsFull)
            Publish();
    }

    /// <summary>An opened group that got no packet (the receive found nothing) goes back unpublished.</summary>
    public void DiscardIfEmpty()
    {
        if (_open is not { Count: 0 } group)
            return;
        _open = null;
        _sequence--;
        group.Release();
    }

    /// <summary>Milliseconds until the open group's linger ends; long.MaxValue with no open group.</summary>
    public long LingerLeftMs()
    {
        if (_open is null)
            return long.MaxValue;
        return _clock.ToMsCeiling(_lingerUnits - (_clock.Time.GetTimestamp() - _openedAt));
    }

    /// <summary>Publishes the open group once it has lingered long enough.</summary>
    public void OnTimer()
    {
        if (_open is not null && _clock.NowTimestamp - _openedAt >= _lingerUnits)
            Publish();
    }

    /// <summary>Whether the open group holds a packet (not yet published).</summary>
    public bool HasOpenPackets => _open is { Count: > 0 };

    /// <summary>
    /// Publishes the open group when it holds a packet of <paramref name="connection"/>, which is closing: its packets are heard
    /// before its disconnected event, as they were read. Otherwise a subscriber that matches packets to what it sent on the
    /// connection (ferry run's reply pair: an answer to its request) heard of the end first, gave up on what the group still
    /// held (the request counted unanswered) and then dropped the answer as one nobody waited for.
    /// </summary>
    public void PublishOpenOf(ConnectionId connection)
    {
        if (_open is not { Count: > 0 } group)
            return;
        for (var i = 0; i < group.Count; i++)
        {
            if (group[i].ConnectionId == connection)
            {
                Publish();
                return;
            }
        }
    }

    /// <summary>Publishes whatever the open group holds (stopping).</summary>
    public void PublishOpen()
    {
        if (_open is not null)
            Publish();
    }

    private void Publish()
    {
        var group = _open!;
        _open = null;
        if (_stopForced.IsCancellationRequested)
        {
            // The stop was forced while a subscriber held an earlier group: what is read after it is dropped, and counted, so
            // that what the stage read is still what its subscribers took plus what the stop dropped (said by the stop's
            // account: a NATS gateway, say, can tell only of the groups it was given).
            _counters.IngressPacketsStopDropped += group.Count;
            group.Release();
            return;
        }
        _counters.GroupsPublished++;
        Publishing = group;
        var abandoned = false;
        try
        {
            var publishing = _topic.PublishAsync(group, _stopForced);
            // A full subscriber queue blocks the service thread: no socket is read until it has
            // room, so clients' TCP windows close. That is the backpressure, by design. An inline
            // handler that awaits blocks it too, without meaning to: the topic reports that (a warning).
            if (!publishing.IsCompletedSuccessfully)
                publishing.AsTask().GetAwaiter().GetResult();
        }
        catch (OperationCanceledException) when (_stopForced.IsCancellationRequested)
        {
            // The stop's grace period ended the wait: a handler may still be running with this group, so its storage is
            // left to the collector rather than handed to the next group under the handler's feet.
            abandoned = true;
        }
        catch (Exception ex)
        {
            abandoned = _stopForced.IsCancellationRequested;
            _events.RaiseSubscriberFailures("packet_group", ex);
        }
        finally
        {
            Publishing = null;
            if (!abandoned)
                group.Release();
        }
    }
}
