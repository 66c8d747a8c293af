using NATS.Client.Core;

namespace Ferry.Nats.Internal;

/// <summary>
/// Core NATS egress, at most once: plain subscriptions on the shared and the instance's subject, and a
/// queue subscription on <c>.any</c> so exactly one gateway takes each of those. Each subscription holds
/// at most <c>max_pending_egress</c> messages; what the client drops beyond that is counted.
/// </summary>
internal sealed class CoreEgress(NatsConnection nats, EgressRouter router, EgressSubjects subjects, int capacity, LoopWatch watch)
{
    public async Task<Task> StartAsync(CancellationToken stopping)
    {
        var opts = new NatsSubOpts { ChannelOpts = new NatsSubChannelOpts { Capacity = capacity } };
        var serializer = NatsDefaultSerializer<NatsMemoryOwner<byte>>.Default;
        var shared = await nats.SubscribeCoreAsync(subjects.Shared, serializer: serializer, opts: opts, cancellationToken: stopping).ConfigureAwait(false);
        var own = await nats.SubscribeCoreAsync(subjects.Own, serializer: serializer, opts: opts, cancellationToken: stopping).ConfigureAwait(false);
        var any = await nats.SubscribeCoreAsync(subjects.Any, queueGroup: subjects.Stage, serializer: serializer, opts: opts, cancellationToken: stopping).ConfigureAwait(false);
        return Task.WhenAll(
            watch.Watch($"egress subscription on {subjects.Shared}", RunAsync(shared, toAny: false, stopping)),
            watch.Watch($"egress subscription on {subjects.Own}", RunAsync(own, toAny: false, stopping)),
            watch.Watch($"egress subscription on {subjects.Any}", RunAsync(any, toAny: true, stopping)));
    }

    private async Task RunAsync(INatsSub<NatsMemoryOwner<byte>> subscription, bool toAny, CancellationToken stopping)
    {
        await using (subscription.ConfigureAwait(false))
        {
            try
            {
                await foreach (var msg in subscription.Msgs.ReadAllAsync(stopping).ConfigureAwait(false))
                {
                    using var data = msg.Data;
                    try
                    {
                        await router.RouteAsync(msg.Headers, data.Memory, toAny, msg.Error, stopping).ConfigureAwait(false);
                    }
                    catch (Exception ex) when (ex is not OperationCanceledException || !stopping.IsCancellationRequested)
                    {
                        // Whatever one message does, the next is routed: this loop is the subject's only reader for the
                        // gateway's life (it used to end here, and the subject went unrouted until a restart).
                        router.Failed(msg.Subject, ex, "lost (core NATS is at most once), counted in egress_rejected");
                    }
                }
            }
            catch (OperationCanceledException) when (stopping.IsCancellationRequested)
            {
            }
        }
    }
}
