using System.Diagnostics;
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

    /// <summary>
    /// The request half of a <c>target: reply</c> pair: each packet goes to <paramref name="upstream"/>'s
    /// current connection, and its sender is recorded in <paramref name="book"/> only when the upstream
    /// stage took it. While the upstream is not connected, or its egress is full under <c>drop</c>, the
    /// request is not sent (it could never be answered in order) and counted. Under <c>wait</c>, a request past the
    /// book's capacity waits for room as one past a full egress buffer does.
    /// </summary>
    public static IDisposable AttachRequests(IMessageBus bus, RouteDefinition route, TcpClientStage upstream, ReplyBook book)
    {
        var router = upstream.Core.Router;
        void Ended(object? sender, DisconnectedEvent e) => book.Loss.Unanswer(book.Forget(e.ConnectionId), $"'{route.To}' lost its connection ({e.ReasonName}) with requests in flight");
        upstream.Disconnected += Ended;
        var subscription = DirectTopic.Of<PacketGroup>(bus, StageTopics.PacketGroup(route.From)).Subscribe([Ferry.Bus.BackpressureHandler] async (group, ct) =>
        {
            foreach (var packet in group)
            {
                var connection = await ReserveAsync(route, upstream, book, packet.ConnectionId, ct).ConfigureAwait(false);
                if (connection == default)
                    continue;
                var taken = 0;
                try
                {
                    taken = await router.RouteAsync(EgressMessage.To(connection, packet.Payload, packet.Fields), ct).ConfigureAwait(false);
                }
                catch (FramingException ex)
                {
                    upstream.Core.Events.RaiseError(StageErrorKind.Egress, ex.Message, connection);
                }
                finally
                {
                    if (taken == 1)
                        book.Commit();
                    else
                        book.Cancel();
                }
                if (taken != 1)
                    book.Loss.Unanswer(1, $"'{route.To}' did not take the request (its egress is full, or its connection ended)");
            }
        });
        return new Detach(subscription, () => upstream.Disconnected -= Ended);
    }

    /// <summary>
    /// The upstream connection a request is to go out on, its answer reserved in the book; <c>default</c> when it is not
    /// to be sent (the loss counted and reported). Past the book's capacity on that connection, under the upstream's
    /// <c>egress_overflow: wait</c>, the request waits for room (the server stage's thread with it: backpressure, as a full
    /// egress buffer makes it wait), within <c>egress_wait_timeout</c>; under <c>drop</c> or <c>disconnect</c> it is refused.
    /// </summary>
    private static async ValueTask<ConnectionId> ReserveAsync(RouteDefinition route, TcpClientStage upstream, ReplyBook book, ConnectionId requester,
        CancellationToken ct)
    {
        long? waitSince = null;
        while (true)
        {
            if (book.Closed)
            {
                book.Loss.Unanswer(1, "the run is stopping; the request was not sent");
                return default;
            }
            var connection = upstream.ConnectionId;
            if (connection == default)
            {
                book.Loss.Unanswer(1, $"'{route.To}' is not connected; the request was not sent");
                return default;
            }
            if (book.TryReserve(connection, requester))
                return connection;
            var full = $"{book.Capacity} requests already wait for an answer on '{route.To}'";
            if (upstream.Options.EgressOverflow != EgressOverflowPolicy.Wait)
            {
                book.Loss.Unanswer(1, $"{full}; the request was not sent");
                return default;
            }
            waitSince ??= Stopwatch.GetTimestamp();
            var left = upstream.Options.EgressWaitTimeout - Stopwatch.GetElapsedTime(waitSince.Value);
            try
            {
                if (left <= TimeSpan.Zero)
                    throw new TimeoutException();
                await book.WhenRoomAsync(connection).WaitAsync(left, ct).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
                book.Loss.Unanswer(1, $"{full} for egress_wait_timeout ({(long)upstream.Options.EgressWaitTimeout.TotalMilliseconds} ms); the request was not sent");
                return default;
            }
        }
    }

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

    private sealed class Detach(IDisposable subscription, Action unhook) : IDisposable
    {
        public void Dispose()
        {
            subscription.Dispose();
            unhook();
        }
    }
}
