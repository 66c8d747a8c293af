using Ferry.Connections;
using Ferry.Framing;
using Ferry.Nats.Tests.Support;
using Ferry.Stages;
using NATS.Client.Core;
using NATS.Client.JetStream;

namespace Ferry.Nats.Tests;

/// <summary>
/// Egress to a connection that is not there is <c>egress_no_target</c>, never <c>egress_overflow</c>, also in the moment
/// between the connection leaving the stage and the gateway handling its disconnected event; in JetStream mode such a
/// message is acknowledged at once (settled once), not left for redelivery as an overflow is.
/// </summary>
/// <remarks>
/// The moment is held open deterministically: the stage raises a connection's disconnected event first to the handlers of
/// its .NET event, then on its <c>events</c> topic, where the gateway learns of it. A handler of the .NET event that blocks
/// (bounded) until the test has seen the message counted keeps the gateway's view of the connection as it was.
/// </remarks>
public sealed class EgressNoTargetTests
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(30);

    /// <summary>Blocks the stage's thread in its disconnected event for <paramref name="id"/> until released (or <see cref="Bound"/>).</summary>
    private sealed class HeldDisconnect : IDisposable
    {
        private readonly TaskCompletionSource _raised = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private readonly ManualResetEventSlim _release = new();

        public HeldDisconnect(TcpServerStage stage, ConnectionId id)
        {
            stage.Disconnected += (_, e) =>
            {
                if (e.ConnectionId != id)
                    return;
                _raised.TrySetResult();
                _release.Wait(Bound);
            };
        }

        /// <summary>The connection has left the stage; the gateway has not heard of it.</summary>
        public Task Raised => _raised.Task.WaitAsync(Bound);

        public void Dispose() => _release.Set();
    }

    private static long Settled(NatsGatewayCounters c) =>
        c.EgressDelivered + c.EgressForeign + c.EgressNoTarget + c.EgressRejected + c.EgressOverflow;

    [SkippableTheory]
    [InlineData(NatsDeliveryMode.Core)]
    [InlineData(NatsDeliveryMode.JetStream)]
    public async Task Egress_to_a_connection_that_just_closed_is_no_target_before_the_gateway_has_handled_its_disconnect(NatsDeliveryMode mode)
    {
        await using var server = await NatsServer.StartNewAsync();
        await using var nats = await Observer.ConnectAsync(server);
        await using var gateway = await Gateway.StartAsync(server, "gone", FramingSpec.Parse("lines"), o => o.Mode = mode);
        var client = await TestClient.ConnectAsync(gateway.Port);
        var id = await gateway.ConnectionOfAsync(client.LocalPort);

        using (var held = new HeldDisconnect(gateway.Stage, id))
        {
            client.Dispose();
            await held.Raised;
            var headers = new NatsHeaders { ["conn.id"] = id.ToString() };
            if (mode == NatsDeliveryMode.JetStream)
                (await new NatsJSContext(nats).PublishAsync(gateway.Nats.InstanceEgressSubject, "too late"u8.ToArray(), headers: headers)).EnsureSuccess();
            else
                await nats.PublishAsync(gateway.Nats.InstanceEgressSubject, "too late"u8.ToArray(), headers);
            await Eventually.TrueAsync(() => Settled(gateway.Nats.Counters) == 1, Bound, () => gateway.Nats.Counters.ToString());
            // Counted inside the moment: the stage's thread is still in the .NET event, so the events topic (the gateway) has
            // not had the disconnect yet.
            var c = gateway.Nats.Counters;
            // The old code counted it as an overflow: its connection tags still had the connection, so a false from the
            // stage's send read as "full". In JetStream mode it was then left unacknowledged and came back after the ack wait.
            Assert.Equal((1L, 0L, 1L), (c.EgressNoTarget, c.EgressOverflow, c.EgressReceived));
            if (mode == NatsDeliveryMode.JetStream)
                await AssertSettledAsync(nats, "ferry_gone_out", $"gone-{gateway.Nats.Instance}");
        }
        Assert.Equal(0, gateway.Nats.Counters.EgressOverflow);
    }

    [SkippableTheory]
    [InlineData(NatsDeliveryMode.Core)]
    [InlineData(NatsDeliveryMode.JetStream)]
    public async Task Egress_to_any_while_the_only_connection_is_in_its_handshake_is_no_target(NatsDeliveryMode mode)
    {
        // A ZeroMQ peer that has not sent its greeting is counted among the stage's connections but takes no message. The
        // old code asked ConnectionCount after a false from the send and counted an overflow; in JetStream mode the message
        // then came back every ack wait for as long as the peer stayed silent.
        await using var server = await NatsServer.StartNewAsync();
        await using var nats = await Observer.ConnectAsync(server);
        await using var gateway = await Gateway.StartAsync(server, "shy", FramingSpec.Parse("zmtp,socket=push"), o => o.Mode = mode);
        using var silent = await TestClient.ConnectAsync(gateway.Port);
        await Eventually.TrueAsync(() => gateway.Stage.ConnectionCount == 1, Bound, () => "the connection to be taken");

        if (mode == NatsDeliveryMode.JetStream)
            (await new NatsJSContext(nats).PublishAsync("ferry.shy.out.any", "job"u8.ToArray())).EnsureSuccess();
        else
            await nats.PublishAsync("ferry.shy.out.any", "job"u8.ToArray());
        await Eventually.TrueAsync(() => Settled(gateway.Nats.Counters) == 1, Bound, () => gateway.Nats.Counters.ToString());
        var c = gateway.Nats.Counters;
        Assert.Equal((1L, 0L, 1L), (c.EgressNoTarget, c.EgressOverflow, c.EgressReceived));
        if (mode == NatsDeliveryMode.JetStream)
            await AssertSettledAsync(nats, "ferry_shy_out", "shy-any");
    }

    /// <summary>The consumer has nothing unacknowledged and redelivered nothing: the message was settled on its one delivery.</summary>
    private static async Task AssertSettledAsync(NatsConnection nats, string stream, string consumerName)
    {
        var consumer = await new NatsJSContext(nats).GetConsumerAsync(stream, consumerName);
        await Eventually.TrueAsync(() =>
        {
            consumer.RefreshAsync().AsTask().Wait();
            return consumer.Info.NumAckPending == 0;
        }, Bound, () => $"consumer {consumerName}: ack pending {consumer.Info.NumAckPending}");
        Assert.Equal(0, consumer.Info.NumRedelivered);
        Assert.Equal(1UL, consumer.Info.Delivered.ConsumerSeq);
    }
}
