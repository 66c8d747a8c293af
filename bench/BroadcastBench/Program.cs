// Broadcast benchmark: one TcpServerStage, N receivers from the bench kit's `loadgen --mode sink`.
// Measures (1) fan-out time: one 64-byte broadcast until it has been written to every socket,
// and (2) sustained broadcast: messages delivered per second in total (one publisher, drop policy).
//   taskset -c 1 dotnet run -c Release --project bench/BroadcastBench -- --loadgen PATH --conns 1000 [--seconds 10] [--size 64] [--loadgen-cpu 0] [--probes 50]
using System.Diagnostics;
using Ferry.Stages;

var loadgen = Arg("--loadgen", "");
var conns = int.Parse(Arg("--conns", "1000"));
var seconds = double.Parse(Arg("--seconds", "10"), System.Globalization.CultureInfo.InvariantCulture);
var size = int.Parse(Arg("--size", "64"));
var loadgenCpu = Arg("--loadgen-cpu", "0");
var probes = int.Parse(Arg("--probes", "50"));
if (loadgen.Length == 0 || !File.Exists(loadgen))
{
    Console.Error.WriteLine("usage: BroadcastBench --loadgen PATH/TO/loadgen --conns N [--seconds S] [--size B]");
    return 2;
}

await using var stage = new TcpServerStage(new TcpServerStageOptions
{
    Bind = "127.0.0.1:0",
    MaxConnections = 0,
    Backlog = 4096,
    StatsInterval = TimeSpan.FromSeconds(1),
});
var endPoint = await stage.StartAsync();
// The receivers run on their own core (taskset), as in the kit's procedure; they outlive the run.
var sink = Process.Start(new ProcessStartInfo("taskset",
    $"-c {loadgenCpu} {loadgen} --port {endPoint.Port} --mode sink --conns {conns} --duration {seconds + 600} --warmup 0 --size {size} --framing raw --connect-timeout 30 --quiet")
{ RedirectStandardOutput = true })!;
var deadline = DateTime.UtcNow.AddSeconds(60);
while (stage.ConnectionCount < conns && DateTime.UtcNow < deadline)
    await Task.Delay(20);
if (stage.ConnectionCount < conns)
{
    Console.Error.WriteLine($"only {stage.ConnectionCount} of {conns} receivers connected");
    sink.Kill();
    return 1;
}

var payload = new byte[size];
payload.AsSpan().Fill((byte)'b');

// (1) fan-out time, with every egress buffer empty before each message
var fanout = new List<double>();
for (var i = 0; i < probes; i++)
{
    var before = stage.GetStats().BytesSentTotal;
    var t0 = Stopwatch.GetTimestamp();
    await stage.BroadcastAsync(payload);
    while (stage.GetStats().BytesSentTotal < before + (long)conns * size)
        Thread.SpinWait(20);
    fanout.Add(Stopwatch.GetElapsedTime(t0).TotalMicroseconds);
}
fanout.Sort();

// (2) sustained broadcast from one publisher
var start = stage.GetStats();
var sw = Stopwatch.StartNew();
long published = 0;
while (sw.Elapsed.TotalSeconds < seconds)
{
    for (var k = 0; k < 16; k++)
        await stage.BroadcastAsync(payload);
    published += 16;
}
var elapsed = sw.Elapsed.TotalSeconds;
if (stage.ConnectionCount < conns)
    Console.Error.WriteLine($"warning: only {stage.ConnectionCount} receivers left at the end");
var end = stage.GetStats();
var delivered = (end.BytesSentTotal - start.BytesSentTotal) / size;
var dropped = end.EgressPacketsDroppedTotal - start.EgressPacketsDroppedTotal;
sink.Kill();
await sink.WaitForExitAsync();

Console.WriteLine($"conns={conns} size={size} fanout_p50_us={fanout[fanout.Count / 2]:0} fanout_p99_us={fanout[(int)(fanout.Count * 0.99)]:0} " +
    $"broadcasts_per_s={published / elapsed:0} delivered_msgs_per_s={delivered / elapsed:0} delivered_mib_per_s={delivered * size / elapsed / 1048576:0.0} dropped={dropped}");
return 0;

string Arg(string name, string fallback)
{
    var i = Array.IndexOf(args, name);
    return i >= 0 && i + 1 < args.Length ? args[i + 1] : fallback;
}
