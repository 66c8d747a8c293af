using System.Collections.Concurrent;
using System.Text;
using System.Text.Json;
using Ferry.Framing;
using Ferry.Nats.Tests.Support;
using NATS.Client.Core;
using Xunit.Abstractions;

namespace Ferry.Nats.Tests;

/// <summary>Core NATS is at most once: what the server does not take is dropped, and every drop is counted.</summary>
public sealed class CoreDropTests(ITestOutputHelper output)
{
    [SkippableFact]
    public async Task Publishes_a_stopped_server_cannot_take_are_dropped_and_counted_never_silently()
    {
        await using var server = await NatsServer.StartNewAsync();
        // The observer must lose nothing itself: a queue big enough for everything the test sends.
        await using var watcher = new NatsConnection(new NatsOpts { Url = server.Url, Name = "drop-watcher", SubPendingChannelCapacity = 1_000_000, ConnectTimeout = TimeSpan.FromSeconds(10) });
        long watcherDropped = 0;
        watcher.MessageDropped += (_, _) => { Interlocked.Increment(ref watcherDropped); return ValueTask.CompletedTask; };
        await watcher.ConnectAsync();
        var arrived = new ConcurrentDictionary<long, int>();
        long malformed = 0;
        var ingress = await watcher.SubscribeCoreAsync<byte[]>("ferry.drops.in");
        var reading = Task.Run(async () =>
        {
            await foreach (var msg in ingress.Msgs.ReadAllAsync())
            {
                var text = Encoding.ASCII.GetString(msg.Data!);
                if (text.Length == LineFlood.LineBytes - 1 && long.TryParse(text.AsSpan(0, 8), out var n) && text + "\n" == LineFlood.Line(n))
                    arrived.AddOrUpdate(n, 1, (_, seen) => seen + 1);
                else
                    Interlocked.Increment(ref malformed);
            }
        });
        await using var stats = await Observer.CollectAsync(watcher, "ferry.drops.stats");
        await watcher.PingAsync();

        // The smallest write buffer and a short publish timeout, so the drops start soon and come quickly.
        await using var gateway = await Gateway.StartAsync(server, "drops", FramingSpec.Parse("lines"), o =>
        {
            o.PublishTimeout = TimeSpan.FromMilliseconds(200);
            o.WriteBufferBytes = 64 * 1024;
        });
        using var flood = new LineFlood(gateway.Port);
        await Eventually.TrueAsync(() => gateway.Nats.Counters.IngressPackets > 1000, TimeSpan.FromSeconds(30), () => gateway.Nats.Counters.ToString());

        // Stopped, the server takes nothing: the kernel's buffers fill, then the client's, then each publish
        // waits its 200 ms and is dropped.
        await server.PauseAsync();
        try
        {
            await Eventually.TrueAsync(() => gateway.Nats.Counters.IngressDropped >= 5, TimeSpan.FromSeconds(60), () => gateway.Nats.Counters.ToString());
        }
        finally
        {
            server.Resume();
        }
        Assert.True(flood.Stop(TimeSpan.FromSeconds(30)), "the client could not finish its last send after the server resumed");
        Assert.Null(flood.Error);
        var sent = flood.Sent;

        // Everything the client sent is accounted for: published (and then delivered) or dropped.
        await Eventually.TrueAsync(() => gateway.Nats.Counters is var c && c.IngressPackets + c.IngressDropped == sent,
            TimeSpan.FromSeconds(60), () => $"sent {sent}, {gateway.Nats.Counters}");
        var counters = gateway.Nats.Counters;
        await Eventually.TrueAsync(() => arrived.Count >= counters.IngressPackets, TimeSpan.FromSeconds(30),
            () => $"arrived {arrived.Count} of {counters.IngressPackets} published");
        output.WriteLine($"sent {sent}, arrived {arrived.Count}, dropped {counters.IngressDropped}");

        Assert.True(counters.IngressDropped >= 5);
        Assert.Equal(sent - arrived.Count, counters.IngressDropped);
        Assert.Equal(counters.IngressPackets, arrived.Count);
        Assert.All(arrived, kv => Assert.Equal(1, kv.Value));
        Assert.All(arrived.Keys, n => Assert.InRange(n, 0, sent - 1));
        Assert.Equal(0, Interlocked.Read(ref malformed));
        Assert.Equal(0, Interlocked.Read(ref watcherDropped));

        // The stats subject says the same once the server is back.
        await Eventually.TrueAsync(() => stats.Messages.Any(m => DroppedIn(m) == counters.IngressDropped), TimeSpan.FromSeconds(10),
            () => $"stats say ingress_dropped {string.Join(", ", stats.Messages.Select(DroppedIn))}");

        await ingress.UnsubscribeAsync();
        await reading.WaitAsync(TimeSpan.FromSeconds(10));
    }

    private static long DroppedIn(NatsMsg<byte[]> stats)
        => JsonDocument.Parse(stats.Data!).RootElement.GetProperty("nats").GetProperty("ingress_dropped").GetInt64();
}
