using System.Net;
using System.Net.Sockets;
using Ferry.Tests.Support;

namespace Ferry.Tests.Cli;

/// <summary>A <c>tcp_client</c> stage of <c>ferry run</c> prints the same <c>connect_failed</c> line as <c>ferry connect</c>.</summary>
public sealed class ConnectFailedRunLineTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("ferry-connect-failed-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public async Task A_client_stage_whose_connection_the_server_ends_says_why_with_attempt_0()
    {
        // Before: {"type":"connect_failed","stage":"upstream",...,"attempt":0,"reason":"connection lost",...}.
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        var file = Path.Combine(_dir, "client.yaml");
        File.WriteAllText(file, $$$"""
            stages:
              - {name: front, type: tcp_server, config: {bind: "127.0.0.1:0"}}
              - {name: upstream, type: tcp_client, config: {host: 127.0.0.1, port: {{{port}}}, reconnect_wait: 10s}}
            routes:
              - {from: front, to: upstream}
            """);

        await using var run = RunningCommand.Start(null, "run", file);
        using (await listener.AcceptTcpClientAsync().WaitAsync(TimeSpan.FromSeconds(30)))
            await run.Out.WaitJsonAsync(j => LineWriter.Is(j, "connected") && j.GetProperty("stage").GetString() == "upstream", "upstream connected");
        var failed = await run.Out.WaitJsonAsync(j => LineWriter.Is(j, "connect_failed"), "connect_failed after the close");
        Assert.Equal("upstream", failed.GetProperty("stage").GetString());
        Assert.Equal(0, failed.GetProperty("attempt").GetInt32()); // no attempt failed: the connection ended
        Assert.Equal($"connection to 127.0.0.1:{port} ended (remote_closed)", failed.GetProperty("reason").GetString());
        Assert.Equal(0, await run.StopAsync());
    }
}
