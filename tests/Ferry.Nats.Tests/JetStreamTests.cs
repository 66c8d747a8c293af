using System.Text;
using Ferry.Connections;
using Ferry.Framing;
using Ferry.Nats.Tests.Support;
using NATS.Client.Core;
using NATS.Client.JetStream;
using NATS.Client.JetStream.Models;
using Xunit.Abstractions;

namespace Ferry.Nats.Tests;

public sealed class JetStreamTests(ITestOutputHelper output)
{
    [SkippableFact]
    public async Task Ingress_is_stored_and_egress_from_the_stream_is_acknowledged_once_written()
    {
        await using var server = await NatsServer.StartNewAsync();
        await using var nats = await Observer.ConnectAsync(server);
        await using var gateway = await Gateway.StartAsync(server, "js", FramingSpec.Parse("lines"), o => o.Mode = NatsDeliveryMode.JetStream);
        using var client = await TestClient.ConnectAsync(gateway.Port);
        var id = await gateway.ConnectionOfAsync(client.LocalPort);
        await client.SendAsync("one\ntwo\n");
        await Eventually.TrueAsync(() => gateway.Nats.Counters.IngressPackets == 2, TimeSpan.FromSeconds(10), () => gateway.Nats.Counters.ToString());

        var js = new NatsJSContext(nats);
        var stream = await js.GetStreamAsync("ferry_js_in");
        Assert.Equal(2, stream.Info.State.Messages);
        var consumer = await js.CreateOrUpdateConsumerAsync("ferry_js_in", new ConsumerConfig("workers") { AckPolicy = ConsumerConfigAckPolicy.Explicit });
        var got = new List<INatsJSMsg<byte[]>>();
        await foreach (var m in consumer.FetchAsync<byte[]>(new NatsJSFetchOpts { MaxMsgs = 2, Expires = TimeSpan.FromSeconds(5) }))
        {
            got.Add(m);
            await m.AckAsync();
        }
        Assert.Equal(["one", "two"], got.Select(m => Encoding.UTF8.GetString(m.Data!)));
        Assert.Equal(id.ToString(), (string?)got[0].Headers!["conn.id"]);

        // Egress through the stream: to the live connection, and to one that is gone (acknowledged, counted).
        var reply = new NatsHeaders { ["conn.id"] = id.ToString() };
        (await js.PublishAsync(gateway.Nats.InstanceEgressSubject, "ONE"u8.ToArray(), headers: reply)).EnsureSuccess();
        await client.WaitForTextAsync(t => t == "ONE\n");
        var gone = new NatsHeaders { ["conn.id"] = new ConnectionId(id.Instance, 999_999).ToString() };
        (await js.PublishAsync(gateway.Nats.InstanceEgressSubject, "lost"u8.ToArray(), headers: gone)).EnsureSuccess();
        await Eventually.TrueAsync(() => gateway.Nats.Counters.EgressNoTarget == 1, TimeSpan.FromSeconds(10), () => gateway.Nats.Counters.ToString());
        var own = await js.GetConsumerAsync("ferry_js_out", $"js-{gateway.Nats.Instance}");
        await Eventually.TrueAsync(() =>
        {
            own.RefreshAsync().AsTask().Wait();
            return own.Info.NumAckPending == 0 && own.Info.NumPending == 0;
        }, TimeSpan.FromSeconds(10), () => $"consumer pending {own.Info.NumPending}, ack pending {own.Info.NumAckPending}");
    }

    /// <summary>
    /// A message over the server's max_payload can never be stored. It used to be retried for ever, each
    /// holding a slot of the window: after max_in_flight of them the stage read no socket again.
    /// </summary>
    [SkippableFact]
    public async Task A_message_over_the_servers_max_payload_is_dropped_and_counted_and_does_not_hold_the_window()
    {
        await using var server = await NatsServer.StartNewAsync(maxPayload: 4096);
        await using var nats = await Observer.ConnectAsync(server);
        await using var gateway = await Gateway.StartAsync(server, "big", FramingSpec.Parse("lines"), o =>
        {
            o.Mode = NatsDeliveryMode.JetStream;
            o.MaxInFlight = 2;
        });
        using var client = await TestClient.ConnectAsync(gateway.Port);
        var tooLarge = new string('x', 6000) + "\n";
        await client.SendAsync(tooLarge + tooLarge + tooLarge + "after\n");

        await Eventually.TrueAsync(() => gateway.Nats.Counters is { IngressDropped: 3, IngressPackets: 1, IngressInFlight: 0 },
            TimeSpan.FromSeconds(30), () => gateway.Nats.Counters.ToString());
        var stream = await new NatsJSContext(nats).GetStreamAsync("ferry_big_in");
        Assert.Equal(1, stream.Info.State.Messages);
    }

    [SkippableFact]
    public Task Nats_killed_for_3_s_while_a_client_streams_loses_nothing() => OutageAsync(TimeSpan.FromSeconds(3), rate: 10_000, seconds: 8);

    /// <summary>The acceptance run: 30 s without NATS while a client streams 10,000 messages/s.</summary>
    [SkippableFact]
    public Task Nats_killed_for_30_s_while_a_client_streams_10000_per_s_loses_nothing() => OutageAsync(TimeSpan.FromSeconds(30), rate: 10_000, seconds: 36);

    private void Log(string text)
    {
        output.WriteLine(text);
        var path = Environment.GetEnvironmentVariable("FERRY_NATS_TEST_LOG");
        if (path is not null)
            File.AppendAllText(path, $"{DateTime.UtcNow:HH:mm:ss.fff} {text}\n");
    }

    /// <summary>
    /// Waits until the gateway has acknowledged <paramref name="total"/> packets, for as long as acknowledgements keep
    /// coming (at most 5 minutes in all): the backlog of an outage drains at the machine's pace, and on a busy 2-core
    /// machine a fixed minute was not enough (264,041 of 360,000 acknowledged, still rising). Half a minute without
    /// one is a stall, and fails.
    /// </summary>
    private static async Task AcknowledgedAsync(Func<NatsGatewayCounters> counters, long total)
    {
        var stall = TimeSpan.FromSeconds(30);
        var cap = DateTime.UtcNow + TimeSpan.FromMinutes(5);
        var (last, movedAt) = (-1L, DateTime.UtcNow);
        while (counters().IngressPackets < total)
        {
            var now = counters().IngressPackets;
            if (now != last)
                (last, movedAt) = (now, DateTime.UtcNow);
            else if (DateTime.UtcNow - movedAt > stall)
                throw new TimeoutException($"no packet acknowledged for {stall.TotalSeconds:0} s, {now} of {total}: {counters()}");
            if (DateTime.UtcNow > cap)
                throw new TimeoutException($"not all acknowledged within 5 minutes, {now} of {total}: {counters()}");
            await Task.Delay(100);
        }
    }

    private async Task OutageAsync(TimeSpan outage, int rate, int seconds)
    {
        const int window = 256;
        await using var server = await NatsServer.StartNewAsync();
        await using var gateway = await Gateway.StartAsync(server, "out", FramingSpec.Parse("lines"), o =>
        {
            o.Mode = NatsDeliveryMode.JetStream;
            o.MaxInFlight = window;
            o.AckTimeout = TimeSpan.FromSeconds(2);
        });
        var total = rate * seconds;
        using var listener = await TestClient.ConnectAsync(gateway.Port); // takes egress after the outage
        var listenerId = await gateway.ConnectionOfAsync(listener.LocalPort);
        var sender = new PacedSender(gateway.Port, total, rate);
        sender.Start();
        await Eventually.TrueAsync(() => gateway.Nats.Counters.IngressPackets >= rate, TimeSpan.FromSeconds(20), () => gateway.Nats.Counters.ToString());

        Log($"killing nats-server: {gateway.Nats.Counters}");
        server.Kill();
        var memoryBefore = GC.GetTotalMemory(forceFullCollection: true);
        await Eventually.TrueAsync(() => !gateway.Nats.Counters.Connected, TimeSpan.FromSeconds(10), () => "still connected");
        await Task.Delay(outage / 2); // the outage itself
        var readMid = gateway.Stage.GetStats().PacketsReceivedTotal;
        await Task.Delay(outage / 2);
        var readEnd = gateway.Stage.GetStats().PacketsReceivedTotal;
        var acked = gateway.Nats.Counters.IngressPackets;
        var memoryDuring = GC.GetTotalMemory(forceFullCollection: true);
        Log($"outage {outage.TotalSeconds} s: read {readMid} at half, {readEnd} at the end, acked {acked}, sent by the client {sender.Sent}, in flight {gateway.Nats.Counters.IngressInFlight}, managed memory {memoryBefore / 1024} KiB -> {memoryDuring / 1024} KiB");
        Assert.Equal(readMid, readEnd); // the stage stopped reading: the client's TCP window closed
        Assert.InRange(readEnd - acked, 0, window + 1); // the window, and the packet waiting for a slot
        Assert.InRange(memoryDuring - memoryBefore, long.MinValue, 64L * 1024 * 1024);

        await server.StartAsync(); // same port, same store
        Log("nats-server restarted");
        await Eventually.TrueAsync(() => sender.Done, TimeSpan.FromSeconds(seconds + 60), () => $"client sent {sender.Sent} of {total}");
        Assert.Null(sender.Error);
        await AcknowledgedAsync(() => gateway.Nats.Counters, total);

        Log($"all acknowledged: {gateway.Nats.Counters}");
        await using var nats = await Observer.ConnectAsync(server);
        var js = new NatsJSContext(nats);

        // Egress resumes too: the gateway's consumers came back with the server.
        (await js.PublishAsync(gateway.Nats.InstanceEgressSubject, "after the outage"u8.ToArray(),
            headers: new NatsHeaders { ["conn.id"] = listenerId.ToString() })).EnsureSuccess();
        await listener.WaitForTextAsync(t => t == "after the outage\n", TimeSpan.FromSeconds(30));

        var consumer = await js.CreateOrUpdateConsumerAsync("ferry_out_in", new ConsumerConfig("count")
        {
            // Read everything once without acknowledging (the test ends there): no limit, no redelivery meanwhile.
            AckPolicy = ConsumerConfigAckPolicy.Explicit, MaxAckPending = -1, AckWait = TimeSpan.FromMinutes(10),
        });
        var seen = new bool[total];
        long stored = 0, duplicates = 0, distinct = 0;
        var pending = (await js.GetStreamAsync("ferry_out_in")).Info.State.Messages;
        // Reading 360,000 messages back takes a minute on a busy 2-core machine; a slow read is not a loss.
        var deadline = DateTime.UtcNow + TimeSpan.FromMinutes(5);
        while (stored < pending && DateTime.UtcNow < deadline)
        {
            // At most the client's subscription queue (1024 by default) per fetch: a bigger batch that the test
            // reads slower than it arrives (a busy machine) overflows the queue, and what the client drops
            // there is not redelivered before the 10 min ack wait.
            await foreach (var m in consumer.FetchAsync<byte[]>(new NatsJSFetchOpts { MaxMsgs = 1000, Expires = TimeSpan.FromSeconds(2) }))
            {
                stored++;
                var n = int.Parse(Encoding.ASCII.GetString(m.Data!));
                if (seen[n])
                    duplicates++;
                else
                {
                    seen[n] = true;
                    distinct++;
                }
            }
        }
        var counters = gateway.Nats.Counters;
        Log($"sent {total}, stored {stored}, distinct {distinct}, duplicates {duplicates}, losses {total - distinct}, publish retries {counters.IngressRetries}, disconnects {counters.Disconnects}");
        Assert.True(stored >= pending, $"read back only {stored} of the {pending} messages the stream holds within 5 minutes");
        Assert.Equal(total, distinct);
        Assert.Equal(stored, distinct + duplicates);
    }
}
