using ChatRooms;
using Ferry.Examples;

// chat-rooms [--bind HOST:PORT]
if (!CommandLine.TryParse("chat-rooms", ChatCommandLine.Usage, args, ChatCommandLine.Parse, out var options, out var exitCode))
    return exitCode;

return await Shutdown.RunAsync("chat-rooms", async shutdown =>
{
    await using var server = await ChatServer.StartAsync(options, shutdown.Token);
    Console.WriteLine($"chat-rooms: listening on {server.LocalEndPoint} (text-length framing: \"<bytes>\\n<json>\"); Ctrl+C stops");
    await shutdown.WaitAsync();
    return 0;
});
