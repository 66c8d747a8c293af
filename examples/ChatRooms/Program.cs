using ChatRooms;
using Ferry.Examples;

// chat-rooms [--bind HOST:PORT]
var options = new ChatServerOptions();
if (args is ["--bind", var bind])
    options = options with { Bind = bind };
else if (args.Length != 0)
{
    Console.Error.WriteLine($"chat-rooms: unexpected '{string.Join(' ', args)}'; usage: chat-rooms [--bind HOST:PORT] (default {options.Bind})");
    return 2;
}

return await Shutdown.RunAsync("chat-rooms", async shutdown =>
{
    await using var server = await ChatServer.StartAsync(options, shutdown.Token);
    Console.WriteLine($"chat-rooms: listening on {server.LocalEndPoint} (text-length framing: \"<bytes>\\n<json>\"); Ctrl+C stops");
    await shutdown.WaitAsync();
    return 0;
});
