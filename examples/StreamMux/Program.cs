using System.Runtime.InteropServices;
using StreamMux;

// stream-mux [--bind HOST:PORT]
var options = new MuxServerOptions();
if (args is ["--bind", var bind])
    options = options with { Bind = bind };
else if (args.Length != 0)
{
    Console.Error.WriteLine($"stream-mux: unexpected '{string.Join(' ', args)}'; usage: stream-mux [--bind HOST:PORT] (default {options.Bind})");
    return 2;
}

using var stop = new CancellationTokenSource();
using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, c => { c.Cancel = true; stop.Cancel(); });
using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, c => { c.Cancel = true; stop.Cancel(); });
await using var server = await MuxServer.StartAsync(options, stop.Token);
Console.WriteLine($"stream-mux: listening on {server.LocalEndPoint} (mux framing: stream id u32, length u32, payload); Ctrl+C stops");
try
{
    await Task.Delay(Timeout.Infinite, stop.Token);
}
catch (OperationCanceledException)
{
}
return 0;
