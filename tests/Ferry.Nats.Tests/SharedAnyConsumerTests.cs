using Ferry.Bus;
using Ferry.Framing;
using Ferry.Nats.Tests.Support;
using Ferry.Stages;
using Ferry.Tests.Bridge;
using Microsoft.Extensions.Logging;
using NATS.Client.JetStream;
using NATS.Client.JetStream.Models;

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
        // Another instance, as a second process would be (one in this process would share the first one's own consumers).
        await using var second = new NatsGateway(stage, new NatsGatewayOptions { Url = server.Url, Mode = NatsDeliveryMode.JetStream, MaxPendingEgress = 64 },
            TestLogging.Factory, 0xb0000002);
        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => second.StartAsync());
        Assert.Equal("NATS gateway of stage 'pair': NatsGatewayOptions.MaxPendingEgress is 64, but the egress consumer 'pair-any' of stream 'ferry_pair_out', shared by every gateway of the stage "
            + "for '.any' egress, has max_ack_pending 256 from the NatsGatewayOptions.MaxPendingEgress of another gateway of the stage that is running now; "
            + "give every gateway of the stage the same NatsGatewayOptions.MaxPendingEgress (to change it, stop them all, then start them with the new value)", error.Message);
        Assert.Equal(256, (await js.GetConsumerAsync("ferry_pair_out", "pair-any")).Info.Config.MaxAckPending);
        await foreach (var name in js.ListConsumerNamesAsync("ferry_pair_out"))
            Assert.DoesNotContain("b0000002", name, StringComparison.Ordinal);

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
        Assert.Contains("Information Ferry.Nats.Gateway.turn: egress consumer turn-any of stream ferry_turn_out: max_ack_pending 256 becomes 64 (this gateway's NatsGatewayOptions.MaxPendingEgress); no gateway pulls from it now", logs.All);
    }
    /// <summary>
    /// Two gateways of one stage (two instances in this process) with different max_pending_egress, held at the step
    /// that races (just before each decides whether the shared consumer is free) until both are there, then let go at
    /// once: the shared consumer missing, or left by a stopped gateway with a third value. Both used to find it free and
    /// write it, and both started: one silently ran with the other's bound. Now at most one starts, and the shared
    /// consumer has its value; one that fails says so with the usual message and leaves no consumer of its own behind.
    /// </summary>
    [SkippableTheory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Two_gateways_with_different_max_pending_egress_starting_at_the_same_instant_never_both_run(bool leftByAStoppedGateway)
    {
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await using var server = await NatsServer.StartNewAsync();
        await using var nats = await Observer.ConnectAsync(server);
        var js = new NatsJSContext(nats);
        if (leftByAStoppedGateway)
        {
            await js.CreateStreamAsync(new StreamConfig("ferry_race_out", ["ferry.race.out", "ferry.race.out.>"])
            {
                Retention = StreamConfigRetention.Interest,
                Storage = StreamConfigStorage.File,
            }, deadline.Token);
            await js.CreateOrUpdateConsumerAsync("ferry_race_out", new ConsumerConfig("race-any")
            {
                FilterSubject = "ferry.race.out.any",
                AckPolicy = ConsumerConfigAckPolicy.Explicit,
                AckWait = TimeSpan.FromSeconds(5),
                MaxAckPending = 128,
                DeliverPolicy = ConsumerConfigDeliverPolicy.All,
            }, deadline.Token);
        }

        var arrived = 0;
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var stages = new List<TcpServerStage>();
        var gateways = new List<NatsGateway>();
        try
        {
            foreach (var (instance, maxPending) in new[] { (0xa0000001u, 64), (0xb0000002u, 256) })
            {
                var stage = new TcpServerStage(new TcpServerStageOptions { Name = "race", Bind = "127.0.0.1:0", Framing = RawFraming.Default }, new InProcessBus());
                stages.Add(stage);
                var gateway = new NatsGateway(stage, new NatsGatewayOptions { Url = server.Url, Mode = NatsDeliveryMode.JetStream, MaxPendingEgress = maxPending },
                    TestLogging.Factory, instance)
                {
                    BeforeClaimForTest = () =>
                    {
                        Interlocked.Increment(ref arrived);
                        return release.Task;
                    },
                };
                gateways.Add(gateway);
            }
            var starts = gateways.Select(g => Task.Run(() => g.StartAsync(deadline.Token))).ToArray();
            await Eventually.TrueAsync(() => Volatile.Read(ref arrived) == 2 || starts.Any(s => s.IsCompleted), TimeSpan.FromSeconds(30),
                () => $"{arrived} of 2 gateways reached the claim");
            Assert.True(arrived == 2, $"{arrived} of 2 gateways reached the claim: {string.Join(" | ", starts.Where(t => t.IsFaulted).Select(t => t.Exception!.InnerException!.ToString()))}");
            release.SetResult();
            var outcomes = new List<(NatsGateway Gateway, int MaxPending, Exception? Error)>();
            for (var i = 0; i < 2; i++)
            {
                Exception? error = null;
                try
                {
                    await starts[i].WaitAsync(TimeSpan.FromSeconds(30));
                }
                catch (InvalidOperationException ex)
                {
                    error = ex;
                }
                outcomes.Add((gateways[i], i == 0 ? 64 : 256, error));
            }

            var started = outcomes.Where(o => o.Error is null).ToList();
            // Old code: both started, and the shared consumer had only one of their values.
            if (started.Count > 1)
                Assert.Fail($"both gateways started; race-any has max_ack_pending {(await js.GetConsumerAsync("ferry_race_out", "race-any", deadline.Token)).Info.Config.MaxAckPending}");
            foreach (var (gateway, maxPending, error) in outcomes.Where(o => o.Error is not null))
            {
                var theirs = maxPending == 64 ? 256 : 64;
                Assert.Equal("NATS gateway of stage 'race': NatsGatewayOptions.MaxPendingEgress is " + maxPending + ", but the egress consumer 'race-any' of stream 'ferry_race_out', shared by every gateway of the stage "
                    + "for '.any' egress, has max_ack_pending " + theirs + " from the NatsGatewayOptions.MaxPendingEgress of another gateway of the stage that is running now; "
                    + "give every gateway of the stage the same NatsGatewayOptions.MaxPendingEgress (to change it, stop them all, then start them with the new value)", error!.Message);
                // It changed nothing: no consumer of its own is left.
                await foreach (var name in js.ListConsumerNamesAsync("ferry_race_out", deadline.Token))
                    Assert.DoesNotContain(gateway.Instance, name, StringComparison.Ordinal);
            }
            if (started.SingleOrDefault() is { Gateway: not null } winner)
                Assert.Equal(winner.MaxPending, (await js.GetConsumerAsync("ferry_race_out", "race-any", deadline.Token)).Info.Config.MaxAckPending);
        }
        finally
        {
            release.TrySetResult();
            foreach (var gateway in gateways)
                await gateway.DisposeAsync();
            foreach (var stage in stages)
                await stage.DisposeAsync();
        }
    }
}
