using System.Text;
using Ferry.Nats.Internal;
using Ferry.Nats.Tests.Support;
using Ferry.Tests.Bridge;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Time.Testing;
using NATS.Client.JetStream;
using NATS.Client.JetStream.Models;

namespace Ferry.Nats.Tests;

/// <summary>
/// An ingress stream deleted under a running JetStream gateway is recreated with the configuration it had at start, said
/// once, and ingress goes on into it. It used to stay missing until a restart: publishes went unanswered until the
/// window was full and the stage stopped reading.
/// </summary>
public sealed class IngressStreamRecreationTests
{
    [SkippableFact]
    public async Task A_deleted_ingress_stream_is_recreated_and_takes_the_packets_sent_after_the_deletion()
    {
        await using var server = await NatsServer.StartNewAsync();
        await using var nats = await Observer.ConnectAsync(server);
        var js = new NatsJSContext(nats);
        var logs = new CapturingLoggerFactory(LogLevel.Information, timestamps: false);
        await using var gateway = await Gateway.StartAsync(server, "gone", Ferry.Framing.FramingSpec.Parse("lines"), o => o.Mode = NatsDeliveryMode.JetStream, logs: logs);
        var before = (await js.GetStreamAsync("ferry_gone_in")).Info.Config;
        using var client = await TestClient.ConnectAsync(gateway.Port);
        await client.SendAsync("before\n");
        await Eventually.TrueAsync(() => gateway.Nats.Counters.IngressPackets == 1, TimeSpan.FromSeconds(10), () => $"{gateway.Nats.Counters}");

        await js.DeleteStreamAsync("ferry_gone_in");
        for (var i = 1; i <= 3; i++)
            await client.SendAsync($"after {i}\n");

        // The stream is back, with the packets sent after its deletion in it, and nothing was dropped.
        await Eventually.TrueAsync(async () =>
        {
            try
            {
                return (await js.GetStreamAsync("ferry_gone_in")).Info.State.Messages == 3;
            }
            catch (NatsJSApiException)
            {
                return false; // still missing
            }
        }, TimeSpan.FromSeconds(20), () => $"no stream with the 3 new messages; {gateway.Nats.Counters}; log: {logs.Text}");
        await Eventually.TrueAsync(() => gateway.Nats.Counters is { IngressPackets: 4, IngressInFlight: 0 }, TimeSpan.FromSeconds(10), () => $"{gateway.Nats.Counters}");
        Assert.Equal(0, gateway.Nats.Counters.IngressDropped);
        var after = (await js.GetStreamAsync("ferry_gone_in")).Info.Config;
        Assert.Equal(before.Subjects, after.Subjects);
        Assert.Equal(before.Retention, after.Retention);
        Assert.Equal(before.Storage, after.Storage);

        var consumer = await js.CreateOrUpdateConsumerAsync("ferry_gone_in", new ConsumerConfig("check") { AckPolicy = ConsumerConfigAckPolicy.Explicit });
        var texts = new List<string>();
        await foreach (var msg in consumer.FetchAsync<byte[]>(new NatsJSFetchOpts { MaxMsgs = 3, Expires = TimeSpan.FromSeconds(5) }))
            texts.Add(Encoding.UTF8.GetString(msg.Data!));
        // Those that met the missing stream were sent again: the order may differ around a retry (docs/nats.md).
        Assert.Equal(["after 1", "after 2", "after 3"], texts.Order());

        var recreated = Assert.Single(logs.All, l => l.Contains("recreated it with the configuration it had at start", StringComparison.Ordinal));
        Assert.StartsWith("Warning Ferry.Nats.Gateway.gone: ingress stream ferry_gone_in (NatsGatewayOptions.IngressStream) was missing while the gateway runs (deleted?)", recreated);
    }

    [Fact]
    public async Task A_refused_recreation_is_said_once_and_tried_again_only_after_a_growing_wait()
    {
        var time = new FakeTimeProvider();
        var logs = new CapturingLoggerFactory(LogLevel.Information, timestamps: false);
        using var stop = new CancellationTokenSource();
        var calls = 0;
        var refuse = true;
        var recreator = new StreamRecreator(RecreatedStream.Ingress("s_in", "s.in"), _ =>
        {
            calls++;
            return refuse ? throw new InvalidOperationException("limits reached") : Task.FromResult(true);
        }, ex => ex.Message, logs.CreateLogger("test"), time, stop.Token);

        await recreator.Nudge();
        Assert.Equal(1, calls);
        // Every unanswered publish nudges it: none of these asks the broker again.
        for (var i = 0; i < 100; i++)
            await recreator.Nudge();
        Assert.Equal(1, calls);
        var refused = Assert.Single(logs.All);
        Assert.Equal("Warning test: ingress stream s_in (NatsGatewayOptions.IngressStream) is missing and cannot be recreated: limits reached; trying again at most every 1 to 30 s while publishes to s.in go unacknowledged (ingress_retries)", refused);

        // 1 s, then 2 s, then 4 s apart.
        foreach (var wait in new[] { 1, 2, 4 })
        {
            time.Advance(TimeSpan.FromSeconds(wait) - TimeSpan.FromMilliseconds(1));
            await recreator.Nudge();
            var before = calls;
            time.Advance(TimeSpan.FromMilliseconds(1));
            await recreator.Nudge();
            Assert.Equal(before + 1, calls);
        }
        Assert.Single(logs.All);

        refuse = false;
        time.Advance(TimeSpan.FromSeconds(8));
        await recreator.Nudge();
        Assert.Equal(5, calls);
        Assert.Equal(3, logs.All.Count);
        Assert.Contains(logs.All, l => l.StartsWith("Warning test: ingress stream s_in (NatsGatewayOptions.IngressStream) was missing while the gateway runs (deleted?): recreated it", StringComparison.Ordinal));
        Assert.Contains("Information test: ingress stream s_in (NatsGatewayOptions.IngressStream) takes s.in again", logs.All);

        // Once the gateway stops, never again.
        await stop.CancelAsync();
        time.Advance(TimeSpan.FromMinutes(1));
        await recreator.Nudge();
        Assert.Equal(5, calls);
    }
}
