using StreamMux;
using Ferry.Examples;

// stream-mux [--bind HOST:PORT]
if (!CommandLine.TryParse("stream-mux", MuxCommandLine.Usage, args, MuxCommandLine.Parse, out var options, out var exitCode))
    return exitCode;

return await Shutdown.RunAsync("stream-mux", async shutdown =>
{
    await using var server = await MuxServer.StartAsync(options, shutdown.Token);
    Console.WriteLine($"stream-mux: listening on {server.LocalEndPoint} (mux framing: stream id u32, length u32, payload); Ctrl+C stops");
    await shutdown.WaitAsync();
    return 0;
});
