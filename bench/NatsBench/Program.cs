using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using Ferry.Bus;
using Ferry.Framing;
using Ferry.Nats;
using Ferry.Stages;
using NATS.Client.Core;
using NATS.Client.JetStream;
using NATS.Client.JetStream.Models;

// NatsBench: the NATS side of docs/benchmarks.md's NATS section (loopback only, every run bounded in time).
//   publish URL SUBJECT SIZE SECONDS core|jetstream WINDOW   a bare NATS.Net publisher: the ceiling for ferry's ingress
//   rate URL STATS_SUBJECT SECONDS                             ferry's published packets/s, from its stats subject
//   total URL STATS_SUBJECT                                    ferry's published packets so far (the next stats message)
//   echo URL STAGE SECONDS                                     a worker that sends every packet back to its connection
//   alloc URL SIZE COUNT [WRITE_BUFFER_BYTES]                  an in-process stage + gateway: bytes allocated and CPU per packet
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
    case "alloc" when args.Length is 4 or 5:
        await AllocAsync(url, int.Parse(args[2]), int.Parse(args[3]), args.Length == 5 ? int.Parse(args[4]) : null);
        return 0;
    case "echo" when args.Length == 4:
        await EchoAsync(nats, args[2], double.Parse(args[3]));
        return 0;
    default:
        return Usage();
}

static int Usage()
{
    Console.Error.WriteLine("usage: NatsBench publish URL SUBJECT SIZE SECONDS core|jetstream WINDOW | rate URL STATS_SUBJECT SECONDS | total URL STATS_SUBJECT | echo URL STAGE SECONDS | alloc URL SIZE COUNT [WRITE_BUFFER_BYTES]");
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

static async Task AllocAsync(string url, int size, int count, int? writeBuffer)
{
    // What the machine's load barely changes: managed bytes allocated (all threads) and process CPU per
    // packet while one loopback client's SIZE-byte lines go through a lines stage and its core gateway.
    await using var stage = new TcpServerStage(new TcpServerStageOptions { Name = "alloc", Bind = "127.0.0.1:0", Framing = FramingSpec.Parse("lines") },
        new InProcessBus());
    var options = new NatsGatewayOptions { Url = url };
    if (writeBuffer is { } bytes)
        options.WriteBufferBytes = bytes;
    await using var gateway = new NatsGateway(stage, options);
    await gateway.StartAsync();
    await stage.StartAsync();
    using var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
    await client.ConnectAsync(IPAddress.Loopback, stage.LocalEndPoint!.Port);
    const int LinesPerSend = 64;
    var batch = new byte[(size + 1) * LinesPerSend];
    batch.AsSpan().Fill((byte)'x');
    for (var i = 1; i <= LinesPerSend; i++)
        batch[i * (size + 1) - 1] = (byte)'\n';
    async Task SendAsync(int lines)
    {
        var published = gateway.Counters.IngressPackets;
        for (var sent = 0; sent < lines; sent += LinesPerSend)
            await client.SendAsync(batch);
        var until = published + (lines + LinesPerSend - 1) / LinesPerSend * LinesPerSend;
        var deadline = Stopwatch.StartNew();
        while (gateway.Counters.IngressPackets + gateway.Counters.IngressDropped < until && deadline.Elapsed < TimeSpan.FromMinutes(2))
            await Task.Delay(5);
    }
    await SendAsync(Math.Max(count / 4, 10_000)); // warm-up: JIT tiers, pools
    var measured = (count + LinesPerSend - 1) / LinesPerSend * LinesPerSend;
    var allocated = GC.GetTotalAllocatedBytes(precise: true);
    var cpu = Process.GetCurrentProcess().TotalProcessorTime;
    await SendAsync(measured);
    var allocatedBytes = GC.GetTotalAllocatedBytes(precise: true) - allocated;
    var used = Process.GetCurrentProcess().TotalProcessorTime - cpu;
    Console.WriteLine($"RESULT mode=alloc size={size} write_buffer={options.WriteBufferBytes} msgs={measured} dropped={gateway.Counters.IngressDropped} bytes_per_msg={(double)allocatedBytes / measured:F1} cpu_us_per_msg={used.TotalMicroseconds / measured:F2}");
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
