using System.Diagnostics;
using System.Text.Json;
using Ferry.Nats;
using NATS.Client.Core;
using NATS.Client.JetStream;
using NATS.Client.JetStream.Models;

// NatsBench: the NATS side of docs/benchmarks.md's NATS section (loopback only, every run bounded in time).
//   publish URL SUBJECT SIZE SECONDS core|jetstream WINDOW   a bare NATS.Net publisher: the ceiling for ferry's ingress
//   rate URL STATS_SUBJECT SECONDS                             ferry's published packets/s, from its stats subject
//   total URL STATS_SUBJECT                                    ferry's published packets so far (the next stats message)
//   echo URL STAGE SECONDS                                     a worker that sends every packet back to its connection
if (args.Length < 1)
    return Usage();
var url = args.Length > 1 ? args[1] : "nats://127.0.0.1:4222";
// A generous connect timeout: the benchmark machine may be busy.
await using var nats = new NatsConnection(new NatsOpts { Url = url, Name = "ferry-nats-bench", ConnectTimeout = TimeSpan.FromSeconds(15) });
await nats.ConnectAsync();
switch (args[0])
{
    case "publish" when args.Length == 7:
        await PublishAsync(nats, args[2], int.Parse(args[3]), double.Parse(args[4]), args[5] == "jetstream", int.Parse(args[6]));
        return 0;
    case "rate" when args.Length == 4:
        await RateAsync(nats, args[2], double.Parse(args[3]));
        return 0;
    case "total" when args.Length == 3:
        await TotalAsync(nats, args[2]);
        return 0;
    case "echo" when args.Length == 4:
        await EchoAsync(nats, args[2], double.Parse(args[3]));
        return 0;
    default:
        return Usage();
}

static int Usage()
{
    Console.Error.WriteLine("usage: NatsBench publish URL SUBJECT SIZE SECONDS core|jetstream WINDOW | rate URL STATS_SUBJECT SECONDS | total URL STATS_SUBJECT | echo URL STAGE SECONDS");
    return 2;
}

static async Task PublishAsync(NatsConnection nats, string subject, int size, double seconds, bool jetStream, int window)
{
    var payload = new ReadOnlyMemory<byte>(new byte[size]);
    var serializer = NatsDefaultSerializer<ReadOnlyMemory<byte>>.Default;
    var clock = Stopwatch.StartNew();
    // CPU of this whole process (the publishing loop and NATS.Net's socket writer) while publishing.
    var cpuAtStart = Process.GetCurrentProcess().TotalProcessorTime;
    var until = TimeSpan.FromSeconds(seconds);
    long sent = 0;
    if (!jetStream)
    {
        // The same shape as ferry's core ingress: one header set per message, publish into the client's buffer.
        while (clock.Elapsed < until)
        {
            for (var i = 0; i < 1000; i++)
                await nats.PublishAsync(subject, payload, new NatsHeaders { ["conn.id"] = "8badf00d-1", ["peer.ip"] = "127.0.0.1", ["peer.port"] = "40000", ["recv.time"] = "2026-11-29T00:00:00.0000000Z" }, serializer: serializer);
            sent += 1000;
        }
        await nats.PingAsync();
    }
    else
    {
        var js = new NatsJSContext(nats);
        var stream = "bench_" + subject.Replace('.', '_');
        try { await js.DeleteStreamAsync(stream); } catch (NatsJSApiException) { }
        await js.CreateStreamAsync(new StreamConfig(stream, [subject]) { Retention = StreamConfigRetention.Workqueue, Storage = StreamConfigStorage.File });
        using var slots = new SemaphoreSlim(window, window);
        while (clock.Elapsed < until)
        {
            await slots.WaitAsync();
            _ = PublishOneAsync();
        }
        for (var i = 0; i < window; i++)
            await slots.WaitAsync();

        async Task PublishOneAsync()
        {
            try
            {
                (await js.PublishAsync(subject, payload, serializer, headers: new NatsHeaders { ["conn.id"] = "8badf00d-1" })).EnsureSuccess();
                Interlocked.Increment(ref sent);
            }
            finally
            {
                slots.Release();
            }
        }
        try { await js.DeleteStreamAsync(stream); } catch (NatsJSApiException) { }
    }
    var rate = sent / clock.Elapsed.TotalSeconds;
    var cpu = Process.GetCurrentProcess().TotalProcessorTime - cpuAtStart;
    Console.WriteLine($"RESULT mode=bare-publish transport={(jetStream ? "jetstream" : "core")} size={size} window={window} msgs={sent} msgs_per_s={rate:F0} cpu_us_per_msg={cpu.TotalMicroseconds / Math.Max(sent, 1):F2}");
}

static async Task RateAsync(NatsConnection nats, string subject, double seconds)
{
    // Two stats messages 'seconds' apart (the first one after a quiet start is skipped): published packets/s.
    var samples = new List<(DateTimeOffset Time, long Packets)>();
    using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(seconds + 5));
    var started = DateTimeOffset.UtcNow;
    try
    {
        await foreach (var msg in nats.SubscribeAsync<byte[]>(subject, cancellationToken: stop.Token))
        {
            var json = JsonDocument.Parse(msg.Data!).RootElement;
            var time = json.GetProperty("socket").GetProperty("time").GetDateTimeOffset();
            samples.Add((time, json.GetProperty("nats").GetProperty("ingress_packets").GetInt64()));
            if (samples.Count > 1 && (time - samples[1].Time).TotalSeconds >= seconds)
                break;
        }
    }
    catch (OperationCanceledException)
    {
    }
    if (samples.Count < 3)
    {
        Console.WriteLine($"RESULT mode=ferry-rate error=too_few_stats samples={samples.Count}");
        return;
    }
    var (t0, p0) = samples[1];
    var (t1, p1) = samples[^1];
    Console.WriteLine($"RESULT mode=ferry-rate packets={p1 - p0} seconds={(t1 - t0).TotalSeconds:F2} msgs_per_s={(p1 - p0) / (t1 - t0).TotalSeconds:F0} since_start={(t1 - started).TotalSeconds:F1}");
}

static async Task TotalAsync(NatsConnection nats, string subject)
{
    using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(10));
    await foreach (var msg in nats.SubscribeAsync<byte[]>(subject, cancellationToken: stop.Token))
    {
        var packets = JsonDocument.Parse(msg.Data!).RootElement.GetProperty("nats").GetProperty("ingress_packets").GetInt64();
        Console.WriteLine($"RESULT mode=ferry-total packets={packets}");
        return;
    }
}

static async Task EchoAsync(NatsConnection nats, string stage, double seconds)
{
    using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(seconds));
    long echoed = 0;
    var egress = $"ferry.{stage}.out";
    try
    {
        await foreach (var msg in nats.SubscribeAsync<NatsMemoryOwner<byte>>($"ferry.{stage}.in", queueGroup: "bench", cancellationToken: stop.Token))
        {
            using var data = msg.Data;
            var conn = (string)msg.Headers![NatsHeaderNames.ConnectionId]!;
            await nats.PublishAsync(NatsEgressSubjects.ForConnection(egress, conn), data.Memory, new NatsHeaders { [NatsHeaderNames.ConnectionId] = conn },
                serializer: NatsDefaultSerializer<ReadOnlyMemory<byte>>.Default);
            echoed++;
        }
    }
    catch (OperationCanceledException)
    {
    }
    Console.WriteLine($"RESULT mode=echo-worker echoed={echoed}");
}
