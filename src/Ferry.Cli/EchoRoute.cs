using Ferry.Bus;
using Ferry.Stages;

namespace Ferry.Cli;

/// <summary>
/// <c>--echo</c>: every packet published on <c>packet_group</c> goes back, through the bus, to the
/// connection it came from, so the whole ingress-to-egress path is exercised.
/// </summary>
internal static class EchoRoute
{
    public static IDisposable Attach(IMessageBus bus, string stage)
    {
        var egress = DirectTopic.Of<EgressMessage>(bus, StageTopics.EgressPackets(stage));
        return DirectTopic.Of<PacketGroup>(bus, StageTopics.PacketGroup(stage)).Subscribe([BackpressureHandler] async (group, ct) =>
        {
            foreach (var packet in group)
                await egress.PublishAsync(EgressMessage.To(packet.ConnectionId, packet.Payload, packet.Fields), ct).ConfigureAwait(false);
        });
    }
}
