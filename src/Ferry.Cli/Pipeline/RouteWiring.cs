using Ferry.Bus;
using Ferry.Stages;

namespace Ferry.Cli.Pipeline;

/// <summary>
/// A route at run time: an inline subscription on <c>from/packet_group</c> that publishes each packet on
/// <c>to/egress_packets</c> (any one connection, all, or the one it answers), on the source stage's
/// service thread, so a full target makes the source wait and stop reading: backpressure end to end.
/// </summary>
internal static class RouteWiring
{
    public static IDisposable Attach(IMessageBus bus, RouteDefinition route, bool toServer, ReplyBook? record, ReplyBook? answer)
    {
        var egress = DirectTopic.Of<EgressMessage>(bus, StageTopics.EgressPackets(route.To));
        var target = route.Target;
        return DirectTopic.Of<PacketGroup>(bus, StageTopics.PacketGroup(route.From)).Subscribe([Ferry.Bus.BackpressureHandler] async (group, ct) =>
        {
            foreach (var packet in group)
            {
                EgressMessage message;
                if (answer is not null)
                {
                    if (!answer.TryTake(out var connection))
                        continue; // nothing awaits an answer: the stage counts nothing, the message has nowhere to go
                    message = EgressMessage.To(connection, packet.Payload, packet.Fields);
                }
                else if (toServer && target == RouteTarget.Any)
                {
                    message = EgressMessage.ToAny(packet.Payload, packet.Fields);
                }
                else
                {
                    message = EgressMessage.ToAll(packet.Payload, packet.Fields);
                }
                record?.Add(packet.ConnectionId);
                await egress.PublishAsync(message, ct).ConfigureAwait(false);
            }
        });
    }
}
