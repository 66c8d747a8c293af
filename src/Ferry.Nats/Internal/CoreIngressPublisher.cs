using NATS.Client.Core;

namespace Ferry.Nats.Internal;

/// <summary>
/// Core NATS ingress, at most once: each message goes into the client's write buffer (waiting while it is
/// full, which holds the stage); a publish that fails is dropped and counted.
/// </summary>
internal sealed class CoreIngressPublisher(NatsConnection nats, string subject, ConnectionTags tags, FieldHeaders fields,
    NatsIngressLayout layout, GatewayCounters counters)
    : IngressPublisher(subject, tags, fields, layout, counters)
{
    protected override async ValueTask SendAsync(NatsHeaders headers, ReadOnlyMemory<byte> payload, int packets, CancellationToken cancellationToken)
    {
        try
        {
            await nats.PublishAsync(Subject, payload, headers, serializer: NatsDefaultSerializer<ReadOnlyMemory<byte>>.Default,
                cancellationToken: cancellationToken).ConfigureAwait(false);
            CountPublished(packets, payload.Length);
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            Interlocked.Add(ref Counters.IngressDropped, packets);
        }
    }
}
