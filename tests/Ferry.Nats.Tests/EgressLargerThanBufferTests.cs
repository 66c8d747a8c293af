using System.Text.Json;
using Ferry.Framing;
using Ferry.Nats.Tests.Support;
using Ferry.Stages;
using NATS.Client.Core;
using NATS.Client.JetStream;

namespace Ferry.Nats.Tests;

/// <summary>
/// An egress message whose frame is larger than the stage's whole egress buffer can never be taken by any connection
/// under the drop and disconnect policies (the stage drops it however empty the buffer is). It used to be counted as an
/// overflow (a "slow client" that was not slow) or, to everyone, as no target; in JetStream mode the overflow was left
/// unacknowledged and came back after every ack wait, for ever, holding a slot of max_ack_pending. It is rejected once,
/// with an error event that says why, and settled.
/// </summary>
public sealed class EgressLargerThanBufferTests
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(10);

    [SkippableTheory]
    [InlineData(NatsDeliveryMode.Core, EgressOverflowPolicy.Drop)]
    [InlineData(NatsDeliveryMode.JetStream, EgressOverflowPolicy.Drop)]
    [InlineData(NatsDeliveryMode.JetStream, EgressOverflowPolicy.Disconnect)]
    public async Task A_message_larger_than_the_whole_egress_buffer_is_rejected_once_and_settled(NatsDeliveryMode mode, EgressOverflowPolicy policy)
    {
        await using var server = await NatsServer.StartNewAsync();
        await using var nats = await Observer.ConnectAsync(server);
        await using var events = await Observer.CollectAsync(nats, "ferry.huge.events");
        await using var gateway = await Gateway.StartAsync(server, "huge", FramingSpec.Parse("lines"), o => o.Mode = mode,
            stageOptions: o => o with { EgressBufferBytes = 4096, EgressOverflow = policy });
        using var client = await TestClient.ConnectAsync(gateway.Port);
        var id = await gateway.ConnectionOfAsync(client.LocalPort);

        var huge = new byte[5000];
        huge.AsSpan().Fill((byte)'x');
        var toOne = new NatsHeaders { ["conn.id"] = id.ToString() };
        await PublishAsync(nats, mode, gateway.Nats.InstanceEgressSubject, huge, toOne);
        await PublishAsync(nats, mode, "ferry.huge.out.any", huge, null);
        await PublishAsync(nats, mode, "ferry.huge.out", huge, null);
        await PublishAsync(nats, mode, gateway.Nats.InstanceEgressSubject, "after"u8.ToArray(), toOne);

        // The message after them reaches the client: the client stays, whatever the policy.
        await client.WaitForTextAsync(t => t == "after\n");
        // The client can read "after" before the router has counted it (the stage queues, the socket writes, then the
        // router records the outcome), so the counters are awaited as a whole, then checked exactly.
        await Eventually.TrueAsync(() => gateway.Nats.Counters is { EgressRejected: 3, EgressDelivered: 1 }, Bound, () => gateway.Nats.Counters.ToString());
        var c = gateway.Nats.Counters;
        Assert.Equal((3L, 1L, 0L, 0L, 4L), (c.EgressRejected, c.EgressDelivered, c.EgressOverflow, c.EgressNoTarget, c.EgressReceived));
        await Eventually.TrueAsync(() => Errors(events).Count == 3, Bound, () => string.Join(" | ", Errors(events)));
        Assert.All(Errors(events), e => Assert.Contains(
            "egress message of 5000 bytes (5001 framed) is larger than the stage's whole egress buffer (egress_buffer: 4096 bytes)", e, StringComparison.Ordinal));

        if (mode == NatsDeliveryMode.JetStream)
        {
            var js = new NatsJSContext(nats);
            foreach (var name in new[] { $"huge-{gateway.Nats.Instance}", $"huge-{gateway.Nats.Instance}-all", "huge-any" })
            {
                var consumer = await js.GetConsumerAsync("ferry_huge_out", name);
                await Eventually.TrueAsync(() =>
                {
                    consumer.RefreshAsync().AsTask().Wait();
                    return consumer.Info.NumAckPending == 0;
                }, Bound, () => $"consumer {name}: ack pending {consumer.Info.NumAckPending}; {gateway.Nats.Counters}");
                Assert.Equal(0, consumer.Info.NumRedelivered);
            }
        }
        Assert.Equal(0, gateway.Stage.GetStats().EgressPacketsDroppedTotal);
    }

    private static async Task PublishAsync(NatsConnection nats, NatsDeliveryMode mode, string subject, byte[] payload, NatsHeaders? headers)
    {
        if (mode == NatsDeliveryMode.JetStream)
            (await new NatsJSContext(nats).PublishAsync(subject, payload, headers: headers)).EnsureSuccess();
        else
            await nats.PublishAsync(subject, payload, headers);
    }

    private static List<string> Errors(Collector events)
        => [.. events.Messages.Select(m => JsonDocument.Parse(m.Data!).RootElement)
            .Where(j => j.GetProperty("type").GetString() == "error").Select(j => j.GetProperty("message").GetString()!)];
}
