// An echo server on Ferry's per-connection model (MapConnections), for the kit's compare.sh beside
// echo_kestrel (Kestrel's ConnectionHandler echo):
//   ConnectionEcho PORT [--framing raw|lines] [--inline] [--slow-peer-port P] [--stats]
// Each connection gets a handler that reads its messages and sends each back: on the thread pool, or
// with --inline on the stage's service thread (HandlerScheduling.Inline).
// --slow-peer-port P: the handler of a connection from local port P takes a second per message (it awaits
// Task.Delay(1 s) before each echo): the slow handler of the backpressure check (bench/slow_handler.sh).
// --stats: at exit, print messages received and managed bytes allocated per message (whole run).
using System.Runtime.InteropServices;
using Ferry.Framing;
using Ferry.Stages;

if (args.Length < 1 || !int.TryParse(args[0], out var port) || port is < 1 or > 65535)
{
    Console.Error.WriteLine("usage: ConnectionEcho PORT [--framing raw|lines]   (PORT 1..65535)");
    return 2;
}
var framing = "raw";
var stats = false;
var scheduling = HandlerScheduling.ThreadPool;
var slowPeerPort = -1;
for (var i = 1; i < args.Length; i++)
{
    if (args[i] == "--framing" && i + 1 < args.Length)
        framing = args[++i];
    else if (args[i] == "--stats")
        stats = true;
    else if (args[i] == "--inline")
        scheduling = HandlerScheduling.Inline;
    else if (args[i] == "--slow-peer-port" && i + 1 < args.Length && int.TryParse(args[i + 1], out var slow) && slow is >= 1 and <= 65535)
    {
        slowPeerPort = slow;
        i++;
    }
    else
    {
        Console.Error.WriteLine($"unknown argument '{args[i]}'; allowed: --framing raw|lines, --inline, --slow-peer-port 1..65535, --stats");
        return 2;
    }
}

var options = new TcpServerStageOptions
{
    Bind = $"127.0.0.1:{port}",
    Framing = FramingSpec.Parse(framing),
    MaxConnections = 0,
    Backlog = 4096,
};
await using var stage = new TcpServerStage(options);
stage.MapConnections(async (connection, ct) =>
{
    var slow = connection.Peer.Port == slowPeerPort;
    await foreach (var message in connection.ReadAsync(ct))
    {
        if (slow)
            await Task.Delay(TimeSpan.FromSeconds(1), ct); // the message stays valid: the loop has not moved on
        await connection.SendAsync(message.Payload, message.Fields, ct);
    }
}, new ConnectionHandlerOptions { Scheduling = scheduling });
await stage.StartAsync();
Console.Error.WriteLine($"ConnectionEcho: {framing} echo on 127.0.0.1:{port}, one handler per connection ({scheduling})");

using var stop = new CancellationTokenSource();
using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, c => { c.Cancel = true; stop.Cancel(); });
using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, c => { c.Cancel = true; stop.Cancel(); });
try
{
    await Task.Delay(Timeout.Infinite, stop.Token);
}
catch (OperationCanceledException)
{
}
if (stats)
{
    var messages = stage.GetStats().PacketsReceivedTotal;
    var allocated = GC.GetTotalAllocatedBytes(precise: true);
    Console.Error.WriteLine($"ConnectionEcho stats: {messages} messages, {allocated} bytes allocated, {(double)allocated / Math.Max(1, messages):F1} B/message, " +
        $"{GC.CollectionCount(0)} gen0 collections");
}
return 0;
