using CardGateway;
using Ferry.Examples;

// card-gateway [--bind HOST:PORT]
if (!CommandLine.TryParse("card-gateway", GatewayCommandLine.Usage, args, GatewayCommandLine.Parse, out var options, out var exitCode))
    return exitCode;

return await Shutdown.RunAsync("card-gateway", async shutdown =>
{
    await using var gateway = await Gateway.StartAsync(options, shutdown.Token);
    gateway.Stage.Disconnected += (_, e) => Console.WriteLine($"{e.ConnectionId} {e.Peer} closed: {e.ReasonName} {e.Detail} {e.Code}");
    Console.WriteLine($"card-gateway: listening on {gateway.LocalEndPoint} (u16be framing, ISO 8583 requests 0100/0200/0400/0800); Ctrl+C stops");
    await shutdown.WaitAsync();
    return 0;
});
