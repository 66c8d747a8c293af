using System.Buffers;
using System.Globalization;
using Ferry.Stages;
using NATS.Client.Core;

namespace Ferry.Nats.Internal;

/// <summary>
/// Turns the stage's packet groups into NATS messages: one per packet with its metadata as headers, or one
/// per group in <see cref="PacketGroupLayout"/>. Runs inline on the stage's service thread, so while a
/// publish waits the stage reads no socket (backpressure). The delivery mode decides what publishing means.
/// </summary>
internal abstract class IngressPublisher
{
    private readonly ConnectionTags _tags;
    private readonly FieldHeaders _fields;
    private readonly NatsIngressLayout _layout;
    private readonly ArrayBufferWriter<byte> _groupBuffer = new(4096);

    protected IngressPublisher(string subject, ConnectionTags tags, FieldHeaders fields, NatsIngressLayout layout, GatewayCounters counters)
        => (Subject, _tags, _fields, _layout, Counters) = (subject, tags, fields, layout, counters);

    protected string Subject { get; }

    protected GatewayCounters Counters { get; }

    [Ferry.Bus.BackpressureHandler] // waits for NATS on purpose: the stage reads no socket meanwhile
    public async ValueTask PublishAsync(PacketGroup group, CancellationToken cancellationToken)
    {
        if (_layout == NatsIngressLayout.PacketGroup)
        {
            _groupBuffer.ResetWrittenCount();
            PacketGroupLayout.Write(group, _groupBuffer);
            var headers = new NatsHeaders
            {
                [NatsHeaderNames.Layout] = PacketGroupLayout.Name,
                [NatsHeaderNames.GroupSequence] = group.Sequence.ToString(CultureInfo.InvariantCulture),
            };
            await SendAsync(headers, _groupBuffer.WrittenMemory, group.Count, cancellationToken).ConfigureAwait(false);
            return;
        }
        for (var i = 0; i < group.Count; i++)
        {
            var packet = group[i];
            var tag = _tags.Get(packet.ConnectionId, packet.Peer);
            var headers = new NatsHeaders
            {
                [NatsHeaderNames.ConnectionId] = tag.Id,
                [NatsHeaderNames.PeerIp] = tag.Ip,
                [NatsHeaderNames.PeerPort] = tag.Port,
                [NatsHeaderNames.ReceivedAt] = new DateTime(packet.ReceivedAtUtcTicks, DateTimeKind.Utc).ToString("O", CultureInfo.InvariantCulture),
            };
            _fields.Write(packet.Fields, headers);
            await SendAsync(headers, packet.Payload, 1, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Publishes one NATS message. <paramref name="payload"/> is valid only until this returns or its task completes.</summary>
    protected abstract ValueTask SendAsync(NatsHeaders headers, ReadOnlyMemory<byte> payload, int packets, CancellationToken cancellationToken);

    /// <summary>Waits for what is still in flight (JetStream), up to the token.</summary>
    public virtual Task DrainAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    protected void CountPublished(int packets, int bytes)
    {
        Interlocked.Add(ref Counters.IngressPackets, packets);
        Interlocked.Increment(ref Counters.IngressMessages);
        Interlocked.Add(ref Counters.IngressBytes, bytes);
    }
}
