using System.Diagnostics;
using Ferry.Cli;
using Ferry.Tests.Support;

namespace Ferry.Tests.Cli;

public sealed class BridgeSignalTests
{
    [Fact]
    public async Task Sigterm_stops_ferry_bridge_gracefully_and_quiet_is_accepted()
    {
        var dll = typeof(FerryCommand).Assembly.Location;
        var port = FreePorts.Pair();
        var start = new ProcessStartInfo("dotnet", $"\"{dll}\" bridge server 127.0.0.1 {port} --quiet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
        };
        using var process = Process.Start(start)!;
        try
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            // Listening on both ports: the bridge is up (it prints "ready" only once a peer has connected).
            await Poll.UntilAsync(() => Listening(port) && Listening(port + 1), "the bridge to listen on both ports", TimeSpan.FromSeconds(30));

            using (var kill = Process.Start("kill", ["-TERM", process.Id.ToString()]))
                await kill!.WaitForExitAsync(timeout.Token);

            var output = await process.StandardOutput.ReadToEndAsync(timeout.Token);
            await process.WaitForExitAsync(timeout.Token);
            Assert.Equal(0, process.ExitCode); // stopped, not killed by the signal (143)
            Assert.Contains("{\"type\":\"closed\"}", output);
        }
        finally
        {
            if (!process.HasExited)
                process.Kill();
        }
    }

    private static bool Listening(int port)
    {
        try
        {
            using var probe = new System.Net.Sockets.TcpClient();
            probe.Connect(System.Net.IPAddress.Loopback, port);
            return true;
        }
        catch (System.Net.Sockets.SocketException)
        {
            return false;
        }
    }
}
