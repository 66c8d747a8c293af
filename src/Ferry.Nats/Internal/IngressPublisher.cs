using System.Buffers;
using System.Globalization;
using Ferry.Connections;
using Ferry.Stages;
using Microsoft.Extensions.Logging;
using NATS.Client.Core;

namespace Ferry.Nats.Internal;

/// <summary>
/// Turns the stage's packet groups into NATS messages: one per packet with its metadata as headers, or one
/// per group in <see cref="PacketGroupLayout"/>. Runs inline on the stage's service thread, so while a
/// publish waits the stage reads no socket (backpressure). The delivery mode decides what publishing means.
/// Calls come one at a time (the stage publishes its groups in order and waits for each), so the caches
/// below need no lock.
/// </summary>
internal abstract class IngressPublisher
{
    private readonly ConnectionTags _tags;
    private readonly FieldHeaders _fields;
    private readonly NatsIngressLayout _layout;
    private readonly ArrayBufferWriter<byte> _groupBuffer = new(4096);
    // Consecutive packets mostly come from one connection and one receive: their tag and time text are
    // looked up and formatted once, not per packet.
    private ConnectionId _lastConnection;
    private ConnectionTags.Tag? _lastTag;
    private long _lastTicks = -1;
    private string _lastTime = "";

    // Drops are logged at most once per interval (with the total so far), so a flood of them cannot fill the log.
    private static readonly long DropWarningIntervalMs = 10_000;
    private long _lastDropWarningMs = long.MinValue;

    protected IngressPublisher(string subject, ConnectionTags tags, FieldHeaders fields, NatsIngressLayout layout, GatewayCounters counters, ILogger logger)
        => (Subject, _tags, _fields, _layout, Counters, Logger) = (subject, tags, fields, layout, counters, logger);

    protected ILogger Logger { get; }

    protected string Subject { get; }

    protected GatewayCounters Counters { get; }

    [Ferry.Bus.BackpressureHandler] // waits for NATS on purpose: the stage reads no socket meanwhile
    public async ValueTask PublishAsync(PacketGroup group, CancellationToken cancellationToken)
    {
        if (_layout == NatsIngressLayout.PacketGroup)
        {
            _groupBuffer.ResetWrittenCount();
            PacketGroupLayout.Write(group, _groupBuffer);
            var headers = HeadersForNextMessage();
            headers[NatsHeaderNames.Layout] = PacketGroupLayout.Name;
            headers[NatsHeaderNames.GroupSequence] = group.Sequence.ToString(CultureInfo.InvariantCulture);
            await SendAsync(headers, _groupBuffer.WrittenMemory, group.Count, cancellationToken).ConfigureAwait(false);
            return;
        }
        for (var i = 0; i < group.Count; i++)
        {
            var packet = group[i];
            var tag = TagOf(packet);
            var headers = HeadersForNextMessage();
            headers[NatsHeaderNames.ConnectionId] = tag.Id;
            headers[NatsHeaderNames.PeerIp] = tag.Ip;
            headers[NatsHeaderNames.PeerPort] = tag.Port;
            headers[NatsHeaderNames.ReceivedAt] = TimeText(packet.ReceivedAtUtcTicks);
            _fields.Write(packet.Fields, headers);
            await SendAsync(headers, packet.Payload, 1, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// The header set to fill for the next message. Every header of the layout is set again for each
    /// message, so a publisher whose client is done with the headers once <see cref="SendAsync"/> completes
    /// may hand out the same set every time.
    /// </summary>
    protected abstract NatsHeaders HeadersForNextMessage();

    /// <summary>Publishes one NATS message. <paramref name="payload"/> is valid only until this returns or its task completes.</summary>
    protected abstract ValueTask SendAsync(NatsHeaders headers, ReadOnlyMemory<byte> payload, int packets, CancellationToken cancellationToken);

    /// <summary>Waits for what is still in flight (JetStream), up to the token.</summary>
    public virtual Task DrainAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <summary>Once the gateway has stopped and drained again: says what it stopped before NATS acknowledged (JetStream).</summary>
    public virtual void SayAbandoned()
    {
    }

    /// <summary>
    /// Counts packets that will never be published in <see cref="GatewayCounters.IngressDropped"/> and says why in
    /// a warning: the first drop at once, later ones at most once per 10 s, with the total.
    /// </summary>
    protected void Dropped(int packets, int bytes, Exception why)
    {
        var total = Interlocked.Add(ref Counters.IngressDropped, packets);
        var now = Environment.TickCount64;
        var last = Volatile.Read(ref _lastDropWarningMs);
        if (last != long.MinValue && now - last < DropWarningIntervalMs)
            return;
        if (Interlocked.CompareExchange(ref _lastDropWarningMs, now, last) != last)
            return;
        Logger.LogWarning("ingress to {Subject}: dropped a message of {Packets} packet(s), {Bytes} bytes: {Reason} ({Dropped} packets dropped so far, see ingress_dropped)",
            Subject, packets, bytes, why.Message, total);
    }

    protected void CountPublished(int packets, int bytes)
    {
        Interlocked.Add(ref Counters.IngressPackets, packets);
        Interlocked.Increment(ref Counters.IngressMessages);
        Interlocked.Add(ref Counters.IngressBytes, bytes);
    }

    private ConnectionTags.Tag TagOf(in Packet packet)
    {
        if (_lastTag is null || packet.ConnectionId != _lastConnection)
        {
            _lastTag = _tags.Get(packet.ConnectionId, packet.Peer);
            _lastConnection = packet.ConnectionId;
        }
        return _lastTag;
    }

    private string TimeText(long utcTicks)
    {
        if (utcTicks != _lastTicks)
        {
            _lastTime = new DateTime(utcTicks, DateTimeKind.Utc).ToString("O", CultureInfo.InvariantCulture);
            _lastTicks = utcTicks;
        }
        return _lastTime;
    }
}
