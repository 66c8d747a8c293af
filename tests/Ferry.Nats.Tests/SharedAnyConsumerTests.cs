using Ferry.Bus;
using Ferry.Framing;
using Ferry.Nats.Tests.Support;
using Ferry.Stages;
using Ferry.Tests.Bridge;
using Microsoft.Extensions.Logging;
using NATS.Client.JetStream;

namespace Ferry.Nats.Tests;

/// <summary>
/// The <c>&lt;stage&gt;-any</c> JetStream consumer is shared by every gateway of the stage ("any one" of them takes each
/// message), and its max_ack_pending comes from max_pending_egress: gateways of one stage must agree on it. A second
/// gateway with another value used to rewrite the running one's consumer silently.
/// </summary>
public sealed class SharedAnyConsumerTests
{
    [SkippableFact]
    public async Task A_gateway_whose_max_pending_egress_differs_from_a_running_gateway_of_the_stage_fails_its_start_and_changes_nothing()
    {
        await using var server = await NatsServer.StartNewAsync();
        await using var nats = await Observer.ConnectAsync(server);
        var js = new NatsJSContext(nats);
        await using var first = await Gateway.StartAsync(server, "pair", FramingSpec.Parse("lines"), o => o.Mode = NatsDeliveryMode.JetStream);
        await Eventually.TrueAsync(async () => (await js.GetConsumerAsync("ferry_pair_out", "pair-any")).Info.NumWaiting > 0,
            TimeSpan.FromSeconds(10), () => "the first gateway does not pull from pair-any");

        await using var stage = new TcpServerStage(new TcpServerStageOptions { Name = "pair", Bind = "127.0.0.1:0", Framing = RawFraming.Default }, new InProcessBus());
        await using var second = new NatsGateway(stage, new NatsGatewayOptions { Url = server.Url, Mode = NatsDeliveryMode.JetStream, MaxPendingEgress = 64 });
        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => second.StartAsync());
        Assert.Equal("NATS gateway of stage 'pair': max_pending_egress is 64, but the egress consumer 'pair-any' of stream 'ferry_pair_out', shared by every gateway of the stage "
            + "for '.any' egress, has max_ack_pending 256 from the max_pending_egress of another gateway of the stage that is running now; "
            + "give every gateway of the stage the same max_pending_egress (to change it, stop them all, then start them with the new value)", error.Message);
        Assert.Equal(256, (await js.GetConsumerAsync("ferry_pair_out", "pair-any")).Info.Config.MaxAckPending);

        // The first gateway goes on taking '.any' egress.
        using var client = await TestClient.ConnectAsync(first.Port);
        await first.ConnectionOfAsync(client.LocalPort);
        await nats.PublishAsync("ferry.pair.out.any", "to any one"u8.ToArray());
        await client.WaitForTextAsync(t => t == "to any one\n");
    }

    [SkippableFact]
    public async Task A_shared_consumer_nobody_pulls_from_takes_the_value_of_the_gateway_that_starts()
    {
        await using var server = await NatsServer.StartNewAsync();
        await using var nats = await Observer.ConnectAsync(server);
        var js = new NatsJSContext(nats);
        await (await Gateway.StartAsync(server, "turn", FramingSpec.Parse("lines"), o => o.Mode = NatsDeliveryMode.JetStream)).DisposeAsync();
        // Its pull requests expire within 5 s.
        await Eventually.TrueAsync(async () => (await js.GetConsumerAsync("ferry_turn_out", "turn-any")).Info.NumWaiting == 0,
            TimeSpan.FromSeconds(15), () => "pull requests still waiting on turn-any");

        var logs = new CapturingLoggerFactory(LogLevel.Information, timestamps: false);
        await using var next = await Gateway.StartAsync(server, "turn", FramingSpec.Parse("lines"), o =>
        {
            o.Mode = NatsDeliveryMode.JetStream;
            o.MaxPendingEgress = 64;
        }, logs: logs);
        Assert.Equal(64, (await js.GetConsumerAsync("ferry_turn_out", "turn-any")).Info.Config.MaxAckPending);
        Assert.Contains("Information Ferry.Nats.Gateway.turn: egress consumer turn-any of stream ferry_turn_out: max_ack_pending 256 becomes 64 (this gateway's max_pending_egress); no gateway pulls from it now", logs.All);
    }
}
