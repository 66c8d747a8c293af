using System.Runtime.InteropServices;
using ChatRooms;

// chat-rooms [--bind HOST:PORT]
var options = new ChatServerOptions();
if (args is ["--bind", var bind])
    options = options with { Bind = bind };
else if (args.Length != 0)
{
    Console.Error.WriteLine($"chat-rooms: unexpected '{string.Join(' ', args)}'; usage: chat-rooms [--bind HOST:PORT] (default {options.Bind})");
    return 2;
}

using var stop = new CancellationTokenSource();
using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, c => { c.Cancel = true; stop.Cancel(); });
using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, c => { c.Cancel = true; stop.Cancel(); });
await using var server = await ChatServer.StartAsync(options, stop.Token);
Console.WriteLine($"chat-rooms: listening on {server.LocalEndPoint} (text-length framing: \"<bytes>\\n<json>\"); Ctrl+C stops");
try
{
    await Task.Delay(Timeout.Infinite, stop.Token);
}
catch (OperationCanceledException)
{
}
return 0;
