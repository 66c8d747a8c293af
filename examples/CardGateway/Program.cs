using System.Runtime.InteropServices;
using CardGateway;

// card-gateway [--bind HOST:PORT]
var options = new GatewayOptions();
if (args is ["--bind", var bind])
    options = options with { Bind = bind };
else if (args.Length != 0)
{
    Console.Error.WriteLine($"card-gateway: unexpected '{string.Join(' ', args)}'; usage: card-gateway [--bind HOST:PORT] (default {options.Bind})");
    return 2;
}

using var stop = new CancellationTokenSource();
using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, c => { c.Cancel = true; stop.Cancel(); });
using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, c => { c.Cancel = true; stop.Cancel(); });
await using var gateway = await Gateway.StartAsync(options, stop.Token);
gateway.Stage.Disconnected += (_, e) => Console.WriteLine($"{e.ConnectionId} {e.Peer} closed: {e.ReasonName} {e.Detail} {e.Code}");
Console.WriteLine($"card-gateway: listening on {gateway.LocalEndPoint} (u16be framing, ISO 8583 requests 0100/0200/0400/0800); Ctrl+C stops");
try
{
    await Task.Delay(Timeout.Infinite, stop.Token);
}
catch (OperationCanceledException)
{
}
return 0;
