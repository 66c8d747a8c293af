using System.Text;
using System.Text.Json;
using Ferry.Nats.Tests.Support;
using NATS.Client.Core;

namespace Ferry.Nats.Tests;

/// <summary>
/// Two <c>ferry serve --nats</c> processes (two connection-id instances) with one stage name, and one worker:
/// every reply reaches its own client, and each gateway receives only the egress for its own connections.
/// </summary>
public sealed class TwoGatewaysTests
{
    private const int ClientsPerGateway = 3, LinesPerClient = 20;

    [SkippableTheory]
    [InlineData("core")]
    [InlineData("jetstream")]
    public async Task Each_reply_reaches_its_client_through_its_own_gateway_only(string mode)
    {
        await using var server = await NatsServer.StartNewAsync();
        await using var nats = await Observer.ConnectAsync(server);
        await using var stats = await Observer.CollectAsync(nats, "ferry.tcp_server.stats");
        using var stop = new CancellationTokenSource();
        var sub = await nats.SubscribeCoreAsync<byte[]>("ferry.tcp_server.in", queueGroup: "workers");
        await nats.PingAsync(); // the server has the subscription once it answered a ping sent after it
        var worker = RunWorkerAsync(nats, sub, stop.Token);

        var args = new[] { "--bind", "127.0.0.1:0", "--framing", "lines", "--quiet", "--nats", server.Url, "--nats-mode", mode };
        await using var gateway1 = await ServeProcess.StartAsync(args);
        await using var gateway2 = await ServeProcess.StartAsync(args);

        var clients = new List<(TestClient Client, string Name)>();
        try
        {
            foreach (var (gateway, g) in new[] { (gateway1, 1), (gateway2, 2) })
                for (var c = 0; c < ClientsPerGateway; c++)
                    clients.Add((await TestClient.ConnectAsync(gateway.Local.Port), $"g{g}-c{c}"));
            for (var i = 0; i < LinesPerClient; i++)
                foreach (var (client, name) in clients)
                    await client.SendAsync($"{name} line {i}\n");

            foreach (var (client, name) in clients)
            {
                var expected = string.Concat(Enumerable.Range(0, LinesPerClient).Select(i => $"{name} LINE {i}\n".ToUpperInvariant()));
                await client.WaitForTextAsync(t => t.Length >= expected.Length, TimeSpan.FromSeconds(30));
                Assert.Equal(expected, client.Text);
            }

            // Each gateway's own counters, from its stats: exactly its clients' replies, nothing foreign.
            var perGateway = ClientsPerGateway * LinesPerClient;
            var latest = new Dictionary<string, JsonElement>();
            await Eventually.TrueAsync(() =>
            {
                foreach (var msg in stats.Messages)
                {
                    var json = JsonDocument.Parse(msg.Data!).RootElement;
                    latest[json.GetProperty("instance").GetString()!] = json.GetProperty("nats");
                }
                return latest.Count == 2 && latest.Values.All(n => n.GetProperty("egress_delivered").GetInt64() == perGateway);
            }, TimeSpan.FromSeconds(20), () => string.Join(" | ", latest.Select(kv => $"{kv.Key}: {kv.Value}")));
            foreach (var n in latest.Values)
            {
                Assert.Equal(perGateway, n.GetProperty("egress_received").GetInt64());
                Assert.Equal(0, n.GetProperty("egress_foreign").GetInt64());
                Assert.Equal(perGateway, n.GetProperty("ingress_packets").GetInt64());
            }
        }
        finally
        {
            foreach (var (client, _) in clients)
                client.Dispose();
            await stop.CancelAsync();
            await worker;
        }
    }

    /// <summary>The worker: uppercases each line and replies to the gateway that holds the connection.</summary>
    private static async Task RunWorkerAsync(NatsConnection nats, INatsSub<byte[]> sub, CancellationToken cancellationToken)
    {
        await using var _ = sub;
        try
        {
            await foreach (var msg in sub.Msgs.ReadAllAsync(cancellationToken))
            {
                var conn = (string)msg.Headers!["conn.id"]!;
                var reply = Encoding.UTF8.GetBytes(Encoding.UTF8.GetString(msg.Data!).ToUpperInvariant());
                await nats.PublishAsync(NatsEgressSubjects.ForConnection("ferry.tcp_server.out", conn), reply,
                    new NatsHeaders { ["conn.id"] = conn }, cancellationToken: cancellationToken);
            }
        }
        catch (OperationCanceledException)
        {
        }
    }
}
