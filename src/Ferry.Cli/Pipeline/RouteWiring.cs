using Ferry.Bus;
using Ferry.Connections;
using Ferry.Framing;
using Ferry.Stages;

namespace Ferry.Cli.Pipeline;

/// <summary>
/// A route at run time: an inline subscription on <c>from/packet_group</c> that publishes each packet on
/// <c>to/egress_packets</c> (any one connection, all, or the one it answers), on the source stage's
/// service thread, so a target under the <c>wait</c> overflow policy makes the source wait and stop
/// reading (backpressure end to end); under <c>drop</c> (the default) a full target drops and counts.
/// </summary>
internal static class RouteWiring
{
    /// <summary>A route of <c>any</c> or <c>all</c> with no reply route paired with it.</summary>
    public static IDisposable Attach(IMessageBus bus, RouteDefinition route, bool toServer)
    {
        var egress = DirectTopic.Of<EgressMessage>(bus, StageTopics.EgressPackets(route.To));
        var toAny = toServer && route.Target == RouteTarget.Any;
        return DirectTopic.Of<PacketGroup>(bus, StageTopics.PacketGroup(route.From)).Subscribe([Ferry.Bus.BackpressureHandler] async (group, ct) =>
        {
            foreach (var packet in group)
                await egress.PublishAsync(toAny ? EgressMessage.ToAny(packet.Payload, packet.Fields) : EgressMessage.ToAll(packet.Payload, packet.Fields), ct).ConfigureAwait(false);
        });
    }

    /// <summary>The request half of a <c>target: reply</c> pair (<see cref="ReplyRequests"/>).</summary>
    public static IDisposable AttachRequests(IMessageBus bus, RouteDefinition route, TcpServerStage front, TcpClientStage upstream, ReplyBook book)
        => new ReplyRequests(bus, route, front, upstream, book);

    /// <summary>
    /// The answer half of a <c>target: reply</c> pair: each packet goes to the connection whose request on the same upstream
    /// connection is the oldest unanswered. An answer the server stage does not take (its client left, or its egress policy
    /// dropped it) is a loss for that client as much as a request never sent, its later answers one behind its requests:
    /// counted and reported with the pair's other losses, not only in the stage's egress counters.
    /// </summary>
    public static IDisposable AttachAnswers(IMessageBus bus, RouteDefinition route, TcpServerStage downstream, ReplyBook book)
    {
        var router = downstream.Core.Router;
        return DirectTopic.Of<PacketGroup>(bus, StageTopics.PacketGroup(route.From)).Subscribe([Ferry.Bus.BackpressureHandler] async (group, ct) =>
        {
            foreach (var packet in group)
            {
                if (!book.TryTake(packet.ConnectionId, out var requester))
                {
                    book.Loss.Unmatch();
                    continue;
                }
                var outcome = SendOutcome.Queued;
                try
                {
                    outcome = await router.SendAsync(EgressMessage.To(requester, packet.Payload, packet.Fields), ct).ConfigureAwait(false);
                }
                catch (FramingException ex)
                {
                    outcome = SendOutcome.Dropped;
                    downstream.Core.Events.RaiseError(StageErrorKind.Egress, ex.Message, requester);
                }
                finally
                {
                    book.Delivered();
                    ReplyRequests.SettleOne(downstream, book, requester);
                }
                if (outcome == SendOutcome.NoConnection)
                    book.Loss.Undelivered($"an answer from '{route.From}' came for a client of '{route.To}' that has left; it was dropped");
                else if (outcome != SendOutcome.Queued && downstream.Options.EgressOverflow == EgressOverflowPolicy.Disconnect)
                    book.Loss.Undelivered($"'{route.To}' did not take an answer for its client (its egress is full: the client is closed as a slow consumer, or the answer cannot be framed); it was dropped");
                else if (outcome != SendOutcome.Queued)
                    book.Loss.Undelivered($"'{route.To}' did not take an answer for its client (its egress is full, or the answer cannot be framed); it was dropped, so that client's later answers are one behind its requests");
            }
        });
    }
}
