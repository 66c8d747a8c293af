using Microsoft.Extensions.Logging;
using NATS.Client.Core;

namespace Ferry.Nats.Internal;

/// <summary>
/// Core NATS ingress, at most once: each message goes into the client's write buffer (waiting while it is
/// full, which holds the stage, for up to the publish timeout); a publish that fails or times out is
/// dropped and counted in <see cref="GatewayCounters.IngressDropped"/>, never lost silently.
/// </summary>
internal sealed class CoreIngressPublisher(NatsConnection nats, string subject, ConnectionTags tags, FieldHeaders fields,
    NatsIngressLayout layout, GatewayCounters counters, ILogger logger)
    : IngressPublisher(subject, tags, fields, layout, counters, logger)
{
    private static readonly INatsSerialize<ReadOnlyMemory<byte>> Bytes = NatsDefaultSerializer<ReadOnlyMemory<byte>>.Default;

    // NATS.Net writes the headers into its buffer before a core publish completes and keeps no reference
    // to them, and each publish is awaited before the next: one set, refilled per message, saves a
    // dictionary per packet on the hot path.
    private readonly NatsHeaders _headers = [];

    protected override NatsHeaders HeadersForNextMessage() => _headers;

    protected override ValueTask SendAsync(NatsHeaders headers, ReadOnlyMemory<byte> payload, int packets, CancellationToken cancellationToken)
    {
        ValueTask publishing;
        try
        {
            publishing = nats.PublishAsync(Subject, payload, headers, serializer: Bytes, cancellationToken: cancellationToken);
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            Dropped(packets, payload.Length, ex);
            return default;
        }
        // The common case: the client's buffer had room and the message is in it, no state machine needed.
        if (publishing.IsCompletedSuccessfully)
        {
            CountPublished(packets, payload.Length);
            return default;
        }
        return AwaitRoomAsync(publishing, packets, payload.Length, cancellationToken);
    }

    private async ValueTask AwaitRoomAsync(ValueTask publishing, int packets, int bytes, CancellationToken cancellationToken)
    {
        try
        {
            await publishing.ConfigureAwait(false);
            CountPublished(packets, bytes);
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            Dropped(packets, bytes, ex);
        }
    }
}
