using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using Ferry.Framing;
using Ferry.Nats.Tests.Support;
using NATS.Client.Core;

namespace Ferry.Nats.Tests;

/// <summary>
/// The gateway as a careless or hostile peer on the bus meets it: egress the framing cannot carry, header blocks that
/// are not well formed (the control subject: ControlSubjectTests). Each must be refused and counted, and harm nothing else.
/// </summary>
public sealed class HostilePeerTests
{
    private static NatsHeaders Headers(params (string Key, string Value)[] pairs)
    {
        var headers = new NatsHeaders();
        foreach (var (k, v) in pairs)
            headers[k] = v;
        return headers;
    }

    /// <summary>
    /// The stage's encoder refuses a payload its framing cannot carry (FramingException); the exception ended the core
    /// egress loop of the subscription it came on, and every later egress message on that subject was lost.
    /// </summary>
    [SkippableFact]
    public async Task Core_egress_larger_than_the_framing_can_carry_is_rejected_and_egress_keeps_working()
    {
        await using var server = await NatsServer.StartNewAsync();
        await using var nats = await Observer.ConnectAsync(server);
        await using var events = await Observer.CollectAsync(nats, "ferry.big.events");
        await using var gateway = await Gateway.StartAsync(server, "big", FramingSpec.Parse("u16be"));
        using var client = await TestClient.ConnectAsync(gateway.Port);
        var id = await gateway.ConnectionOfAsync(client.LocalPort);

        await nats.PublishAsync(gateway.Nats.InstanceEgressSubject, new byte[70_000], Headers(("conn.id", id.ToString())));
        await nats.PublishAsync(gateway.Nats.InstanceEgressSubject, "ok"u8.ToArray(), Headers(("conn.id", id.ToString())));
        await Eventually.TrueAsync(() => client.Received.Length >= 4, TimeSpan.FromSeconds(10), () => $"received {client.Received.Length} bytes; {gateway.Nats.Counters}");
        Assert.Equal(new byte[] { 0, 2, (byte)'o', (byte)'k' }, client.Received);
        Assert.Equal(1, gateway.Nats.Counters.EgressRejected);
        Assert.Contains("egress message of 70000 bytes cannot be framed", await ErrorEventAsync(events), StringComparison.Ordinal);
    }

    /// <summary>
    /// JetStream: the same message was not acknowledged (the consume loop failed on it), so the stream sent it again
    /// after every ack wait, for ever, and it was never counted. Now it is rejected once and acknowledged.
    /// </summary>
    [SkippableFact]
    public async Task JetStream_egress_larger_than_the_framing_can_carry_is_rejected_once()
    {
        await using var server = await NatsServer.StartNewAsync();
        await using var nats = await Observer.ConnectAsync(server);
        await using var events = await Observer.CollectAsync(nats, "ferry.bigjs.events");
        await using var gateway = await Gateway.StartAsync(server, "bigjs", FramingSpec.Parse("u16be"), o => o.Mode = NatsDeliveryMode.JetStream);
        using var client = await TestClient.ConnectAsync(gateway.Port);
        var id = await gateway.ConnectionOfAsync(client.LocalPort);

        await nats.PublishAsync(gateway.Nats.InstanceEgressSubject, new byte[70_000], Headers(("conn.id", id.ToString())));
        await nats.PublishAsync(gateway.Nats.InstanceEgressSubject, "ok"u8.ToArray(), Headers(("conn.id", id.ToString())));
        await Eventually.TrueAsync(() => client.Received.Length >= 4, TimeSpan.FromSeconds(20), () => $"received {client.Received.Length} bytes; {gateway.Nats.Counters}");
        Assert.Equal(new byte[] { 0, 2, (byte)'o', (byte)'k' }, client.Received);
        await Eventually.TrueAsync(() => gateway.Nats.Counters.EgressRejected == 1, TimeSpan.FromSeconds(10), () => gateway.Nats.Counters.ToString());
        var error = await ErrorEventAsync(events);
        Assert.Contains("egress message of 70000 bytes cannot be framed", error, StringComparison.Ordinal);
        // Acknowledged: nothing comes back after the 5 s ack wait (the consumer has nothing pending).
        var js = new NATS.Client.JetStream.NatsJSContext(nats);
        var consumer = await js.GetConsumerAsync("ferry_bigjs_out", $"bigjs-{gateway.Nats.Instance}");
        await Eventually.TrueAsync(() => consumer.RefreshAsync().AsTask().ContinueWith(_ => consumer.Info.NumAckPending == 0).Result,
            TimeSpan.FromSeconds(10), () => $"{consumer.Info.NumAckPending} unacknowledged");
        Assert.Equal(2, gateway.Nats.Counters.EgressReceived);
    }

    private static async Task<string> ErrorEventAsync(Collector events)
    {
        string? found = null;
        await Eventually.TrueAsync(() =>
        {
            foreach (var m in events.Messages)
            {
                var json = JsonDocument.Parse(m.Data!).RootElement;
                if (json.GetProperty("type").GetString() == "error")
                {
                    found = json.GetProperty("message").GetString();
                    return true;
                }
            }
            return false;
        }, TimeSpan.FromSeconds(10), () => "no error event");
        return found!;
    }

    [SkippableFact]
    public async Task A_header_block_that_is_not_well_formed_does_not_cost_the_connection()
    {
        await using var server = await NatsServer.StartNewAsync();
        await using var nats = await Observer.ConnectAsync(server);
        await using var gateway = await Gateway.StartAsync(server, "hdr", FramingSpec.Parse("lines"));
        using var client = await TestClient.ConnectAsync(gateway.Port);

        using var raw = new TcpClient();
        await raw.ConnectAsync("127.0.0.1", server.Port);
        var stream = raw.GetStream();
        await stream.WriteAsync("CONNECT {\"verbose\":false,\"headers\":true}\r\n"u8.ToArray());
        foreach (var block in new[] { "NATS/1.0\r\nno colon here\r\n\r\n", "garbage\r\n\r\n", "NATS/1.0\r\n: empty\r\n\r\n", "NATS/1.0 503\r\n\r\n", "NATS/1.0\r\nconn.id\u0001: x\r\n\r\n" })
        {
            var h = Encoding.ASCII.GetBytes(block);
            await stream.WriteAsync(Encoding.ASCII.GetBytes($"HPUB ferry.hdr.out {h.Length} {h.Length + 1}\r\n"));
            await stream.WriteAsync(h);
            await stream.WriteAsync("x\r\n"u8.ToArray());
        }
        await stream.WriteAsync("PING\r\n"u8.ToArray());
        await nats.PublishAsync("ferry.hdr.out", "after"u8.ToArray());
        await client.WaitForTextAsync(t => t.EndsWith("after\n", StringComparison.Ordinal));
        Assert.Equal(0, gateway.Nats.Counters.Disconnects);
    }
}
