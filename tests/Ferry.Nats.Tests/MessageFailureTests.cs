using System.Text;
using System.Text.Json;
using Ferry.Bus;
using Ferry.Connections;
using Ferry.Nats.Internal;
using Ferry.Nats.Tests.Support;
using Ferry.Stages;
using Ferry.Tests.Bridge;
using Microsoft.Extensions.Logging;
using NATS.Client.Core;
using NATS.Client.JetStream;

namespace Ferry.Nats.Tests;

/// <summary>
/// A message whose handling throws what the gateway does not anticipate is counted, said and passed over: the loop that
/// reads its subject goes on for the gateway's life. Each loop used to end at the first such message (core: every later
/// message on the subject was lost; JetStream: the message came back after every ack wait, for ever), said only at debug
/// level when the gateway was disposed. A loop that ends all the same is said at once.
/// </summary>
public sealed class MessageFailureTests
{
    private static NatsHeaders ConnHeader(ConnectionId id) => new() { ["conn.id"] = id.ToString() };

    [SkippableFact]
    public async Task Core_egress_goes_on_after_a_message_whose_send_throws()
    {
        await using var server = await NatsServer.StartNewAsync();
        await using var nats = await Observer.ConnectAsync(server);
        var logs = new CapturingLoggerFactory(LogLevel.Warning, timestamps: false);
        await using var gateway = await Gateway.StartAsync(server, "poison", new ThrowingFraming(), logs: logs);
        await using var events = await Observer.CollectAsync(nats, gateway.Nats.EventsSubject);
        using var client = await TestClient.ConnectAsync(gateway.Port);
        var id = await gateway.ConnectionOfAsync(client.LocalPort);

        await nats.PublishAsync(gateway.Nats.InstanceEgressSubject, "boom 1"u8.ToArray(), ConnHeader(id));
        await nats.PublishAsync(gateway.Nats.InstanceEgressSubject, "after"u8.ToArray(), ConnHeader(id));
        await client.WaitForTextAsync(t => t == "after\n");
        // The client can read "after" before the router has counted its outcome.
        await Eventually.TrueAsync(() => gateway.Nats.Counters.EgressDelivered == 1, TimeSpan.FromSeconds(10), () => gateway.Nats.Counters.ToString());

        var counters = gateway.Nats.Counters;
        Assert.Equal(2, counters.EgressReceived);
        Assert.Equal(1, counters.EgressDelivered);
        Assert.Equal(1, counters.EgressRejected);
        Assert.True(counters.Connected);
        await Eventually.TrueAsync(() => Errors(events, "egress").Any(), TimeSpan.FromSeconds(10), () => "no egress error event");
        var error = Assert.Single(Errors(events, "egress"));
        Assert.Contains($"egress message on {gateway.Nats.InstanceEgressSubject} failed (InvalidOperationException: the test framing cannot encode 'boom')", error);
        var line = Assert.Single(logs.All, l => l.StartsWith("Error ", StringComparison.Ordinal));
        Assert.Contains($"stage poison: egress message on {gateway.Nats.InstanceEgressSubject} failed (InvalidOperationException", line);
        Assert.Contains("lost (core NATS is at most once), counted in egress_rejected", line);

        // More of them: each counted, the log says them at most once per interval.
        for (var i = 2; i <= 5; i++)
            await nats.PublishAsync(gateway.Nats.InstanceEgressSubject, Encoding.ASCII.GetBytes($"boom {i}"), ConnHeader(id));
        await nats.PublishAsync(gateway.Nats.InstanceEgressSubject, "last"u8.ToArray(), ConnHeader(id));
        await client.WaitForTextAsync(t => t == "after\nlast\n");
        Assert.Equal(5, gateway.Nats.Counters.EgressRejected);
        Assert.Single(logs.All, l => l.StartsWith("Error ", StringComparison.Ordinal));
    }

    [SkippableFact]
    public async Task JetStream_egress_retries_a_message_whose_send_throws_twice_then_terminates_it_and_goes_on()
    {
        await using var server = await NatsServer.StartNewAsync();
        await using var nats = await Observer.ConnectAsync(server);
        var logs = new CapturingLoggerFactory(LogLevel.Warning, timestamps: false);
        await using var gateway = await Gateway.StartAsync(server, "poison", new ThrowingFraming(), o => o.Mode = NatsDeliveryMode.JetStream, logs: logs);
        using var client = await TestClient.ConnectAsync(gateway.Port);
        var id = await gateway.ConnectionOfAsync(client.LocalPort);

        await nats.PublishAsync(gateway.Nats.InstanceEgressSubject, "boom"u8.ToArray(), ConnHeader(id));
        await nats.PublishAsync(gateway.Nats.InstanceEgressSubject, "after"u8.ToArray(), ConnHeader(id));
        await client.WaitForTextAsync(t => t == "after\n", TimeSpan.FromSeconds(20));

        // Three deliveries of the failing message (1 s apart), then it is terminated: nothing of it is pending or comes back.
        var js = new NatsJSContext(nats);
        var consumer = $"poison-{gateway.Nats.Instance}";
        await Eventually.TrueAsync(async () =>
        {
            var info = (await js.GetConsumerAsync("ferry_poison_out", consumer)).Info;
            return gateway.Nats.Counters is { EgressRejected: 3, EgressDelivered: 1 } && info.NumAckPending == 0 && info.NumPending == 0;
        }, TimeSpan.FromSeconds(20), () => $"{gateway.Nats.Counters}");
        Assert.Equal(1, gateway.Nats.Counters.EgressDelivered);
        Assert.Equal("after\n", client.Text);
        var lines = logs.All.Where(l => l.StartsWith("Error ", StringComparison.Ordinal)).ToList();
        // The first failure is said at once; the other two fall within the log's interval.
        var line = Assert.Single(lines);
        Assert.Contains("not acknowledged and sent again in 1 s (delivery 1; terminated if it fails on delivery 3)", line);
    }

    [SkippableFact]
    public async Task The_control_listener_goes_on_after_a_command_whose_handling_throws()
    {
        await using var server = await NatsServer.StartNewAsync();
        await using var nats = await Observer.ConnectAsync(server);
        await using var requester = await Observer.ConnectAsync(server);
        await using var stage = new TcpServerStage(new TcpServerStageOptions { Name = "ctl", Bind = "127.0.0.1:0" }, new InProcessBus());
        var logs = new CapturingLoggerFactory(LogLevel.Warning, timestamps: false);
        var counters = new GatewayCounters();
        var outbox = new EventOutbox(nats, counters, "ctl.events", "ctl.stats", "0000abcd");
        using var stop = new CancellationTokenSource();
        var outboxLoop = outbox.RunAsync(stop.Token);
        // What a fault anywhere below the listener looks like: the stage's method throws for one command.
        var listener = new ControlListener(nats, stage, 0xabcd, counters, outbox, "ctl.control",
            new MessageFailureLog(logs.CreateLogger("test"), "ctl", TimeProvider.System),
            command => command.Group == "boom" ? throw new InvalidOperationException("the stage failed") : null);
        var loop = await listener.StartAsync(stop.Token);
        await nats.PingAsync();

        var failed = await RequestAsync(requester, """{"command":"group.join","payload":{"conn_id":"0000abcd-1","group":"boom"}}""");
        Assert.False(failed.GetProperty("ok").GetBoolean());
        Assert.Equal("control command failed in the gateway (InvalidOperationException: the stage failed); it may be sent again", failed.GetProperty("error").GetString());
        var done = await RequestAsync(requester, """{"command":"group.join","payload":{"conn_id":"0000abcd-1","group":"fine"}}""");
        Assert.True(done.GetProperty("ok").GetBoolean());

        Assert.Equal(1, Interlocked.Read(ref counters.ControlApplied));
        Assert.Equal(1, Interlocked.Read(ref counters.ControlRejected));
        var line = Assert.Single(logs.All);
        Assert.StartsWith("Error test: stage ctl: control command on ctl.control failed (InvalidOperationException: the stage failed); it is not carried out, counted in control_rejected", line);
        Assert.False(loop.IsCompleted);

        await stop.CancelAsync();
        outbox.Complete();
        await loop.WaitAsync(TimeSpan.FromSeconds(10));
        await outboxLoop.WaitAsync(TimeSpan.FromSeconds(10));
    }

    [SkippableFact]
    public async Task A_loop_that_ends_while_the_gateway_runs_is_said_at_once_and_connected_turns_false()
    {
        await using var server = await NatsServer.StartNewAsync();
        await using var nats = await Observer.ConnectAsync(server);
        var logs = new CapturingLoggerFactory(LogLevel.Warning, timestamps: false);
        await using var gateway = await Gateway.StartAsync(server, "ends", logs: logs);
        await using var events = await Observer.CollectAsync(nats, gateway.Nats.EventsSubject);
        Assert.True(gateway.Nats.Counters.Connected);

        var subscription = new TaskCompletionSource();
        _ = gateway.Nats.WatchForTest("egress subscription on ferry.ends.out", subscription.Task);
        subscription.SetException(new NatsException("the subscription faulted"));

        await Eventually.TrueAsync(() => !gateway.Nats.Counters.Connected, TimeSpan.FromSeconds(10), () => "still connected");
        var line = Assert.Single(logs.All, l => l.StartsWith("Error ", StringComparison.Ordinal));
        Assert.Contains("stage ends: the gateway's egress subscription on ferry.ends.out ended while the gateway runs (NatsException: the subscription faulted)", line);
        await Eventually.TrueAsync(() => Errors(events, "gateway").Any(), TimeSpan.FromSeconds(10), () => "no gateway error event");
        Assert.StartsWith("the gateway's egress subscription on ferry.ends.out ended (NatsException: the subscription faulted)", Assert.Single(Errors(events, "gateway")));
    }

    [SkippableTheory]
    [InlineData(NatsDeliveryMode.Core)]
    [InlineData(NatsDeliveryMode.JetStream)]
    public async Task Stopping_the_gateway_ends_its_loops_without_an_error(NatsDeliveryMode mode)
    {
        await using var server = await NatsServer.StartNewAsync();
        var logs = new CapturingLoggerFactory(LogLevel.Warning, timestamps: false);
        var gateway = await Gateway.StartAsync(server, "calm", configure: o => o.Mode = mode, logs: logs);
        await gateway.DisposeAsync();
        Assert.DoesNotContain(logs.All, l => l.StartsWith("Error ", StringComparison.Ordinal));
    }

    private static async Task<JsonElement> RequestAsync(NatsConnection nats, string json)
    {
        var reply = await nats.RequestAsync<byte[], byte[]>("ctl.control", Encoding.UTF8.GetBytes(json),
            replyOpts: new NatsSubOpts { Timeout = TimeSpan.FromSeconds(10) });
        return JsonDocument.Parse(reply.Data!).RootElement;
    }

    /// <summary>The messages of the error events of one kind seen so far.</summary>
    private static List<string> Errors(Collector events, string kind)
        => [.. events.Messages.Select(m => JsonDocument.Parse(m.Data!).RootElement)
            .Where(e => e.GetProperty("type").GetString() == "error" && e.GetProperty("kind").GetString() == kind)
            .Select(e => e.GetProperty("message").GetString()!)];
}
