using StreamMux;
using Ferry.Examples;

// stream-mux [--bind HOST:PORT]
var options = new MuxServerOptions();
if (args is ["--bind", var bind])
    options = options with { Bind = bind };
else if (args.Length != 0)
{
    Console.Error.WriteLine($"stream-mux: unexpected '{string.Join(' ', args)}'; usage: stream-mux [--bind HOST:PORT] (default {options.Bind})");
    return 2;
}

return await Shutdown.RunAsync("stream-mux", async shutdown =>
{
    await using var server = await MuxServer.StartAsync(options, shutdown.Token);
    Console.WriteLine($"stream-mux: listening on {server.LocalEndPoint} (mux framing: stream id u32, length u32, payload); Ctrl+C stops");
    await shutdown.WaitAsync();
    return 0;
});
