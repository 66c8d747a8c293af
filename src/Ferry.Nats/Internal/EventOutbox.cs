using System.Text.Json;
using System.Threading.Channels;
using Ferry.Stages;
using NATS.Client.Core;

namespace Ferry.Nats.Internal;

/// <summary>
/// Events and stats on their way to NATS: serialized where they happen (often the stage's service thread),
/// published by a background loop so a slow or absent NATS never holds the stage. A full queue drops and
/// counts (core NATS is at most once anyway).
/// </summary>
internal sealed class EventOutbox
{
    private const int Capacity = 4096;
    private readonly Channel<(string Subject, byte[] Json)> _queue =
        Channel.CreateBounded<(string, byte[])>(new BoundedChannelOptions(Capacity) { SingleReader = true, FullMode = BoundedChannelFullMode.Wait });
    private readonly NatsConnection _nats;
    private readonly GatewayCounters _counters;
    private readonly string _eventsSubject, _statsSubject, _instance;

    public EventOutbox(NatsConnection nats, GatewayCounters counters, string eventsSubject, string statsSubject, string instance)
        => (_nats, _counters, _eventsSubject, _statsSubject, _instance) = (nats, counters, eventsSubject, statsSubject, instance);

    public void Event(StageEvent e)
    {
        var json = e switch
        {
            ListeningEvent l => new EventJson("listening", l.Stage, l.Time) { Local = l.LocalEndPoint.ToString() },
            ConnectedEvent c => new EventJson("connected", c.Stage, c.Time) { Conn = c.ConnectionId.ToString(), Peer = c.Peer.ToString(), Local = c.Local.ToString() },
            DisconnectedEvent d => new EventJson("disconnected", d.Stage, d.Time)
            { Conn = d.ConnectionId.ToString(), Peer = d.Peer.ToString(), Reason = d.ReasonName, Detail = d.Detail, Code = d.Code },
            StageErrorEvent x => new EventJson("error", x.Stage, x.Time)
            { Kind = x.Kind.ToString().ToLowerInvariant(), Message = x.Message, Conn = x.ConnectionId.IsNone ? null : x.ConnectionId.ToString() },
            GroupMembershipEvent g => new EventJson(g.Joined ? "joined" : "left", g.Stage, g.Time) { Conn = g.ConnectionId.ToString(), Group = g.Group },
            ClosedEvent c => new EventJson("closed", c.Stage, c.Time),
            _ => new EventJson(e.GetType().Name, e.Stage, e.Time),
        };
        Enqueue(_eventsSubject, NatsJsonContext.Bytes(json with { Instance = _instance }, NatsJsonContext.Default.EventJson));
    }

    /// <summary>An error of the gateway itself (a bad egress message or control command), as an <c>error</c> event.</summary>
    public void Error(string stage, string kind, string message)
        => Enqueue(_eventsSubject, NatsJsonContext.Bytes(
            new EventJson("error", stage, DateTimeOffset.UtcNow) { Instance = _instance, Kind = kind, Message = message }, NatsJsonContext.Default.EventJson));

    public void Stats(SocketStats stats)
        => Enqueue(_statsSubject, NatsJsonContext.Bytes(
            new StatsJson("stats", stats.Stage, _instance, stats, _counters.Snapshot()), NatsJsonContext.Default.StatsJson));

    public void Complete() => _queue.Writer.TryComplete();

    public async Task RunAsync(CancellationToken cancellationToken)
    {
        try
        {
            await foreach (var (subject, json) in _queue.Reader.ReadAllAsync(cancellationToken).ConfigureAwait(false))
            {
                try
                {
                    await _nats.PublishAsync(subject, json, cancellationToken: cancellationToken).ConfigureAwait(false);
                }
                catch (Exception ex) when (ex is not OperationCanceledException)
                {
                    Interlocked.Increment(ref _counters.EventsDropped);
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    private void Enqueue(string subject, byte[] json)
    {
        if (!_queue.Writer.TryWrite((subject, json)))
            Interlocked.Increment(ref _counters.EventsDropped);
    }
}
