using System.Net;
using System.Net.Sockets;
using Ferry.Tests.Support;

namespace Ferry.Tests.Cli;

/// <summary>A bridge_server that cannot bind fails ferry run naming the file's stage, not the bridge's inner PUSH/PULL stages.</summary>
public sealed class RunBridgeBindTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("ferry-bridgebind-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public async Task A_bridge_server_whose_second_port_is_taken_names_its_stage()
    {
        var first = FreePorts.Pair();
        using var holder = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        holder.Bind(new IPEndPoint(IPAddress.Loopback, first + 1));
        holder.Listen();
        var file = Path.Combine(_dir, "f.yaml");
        File.WriteAllText(file, $$$"""
            stages:
              - {name: rogue, type: bridge_server, config: {address: 127.0.0.1, port: {{{first}}}}}
            """);

        await using var run = RunningCommand.Start(null, "run", file);
        Assert.Equal(1, await run.Exit.WaitAsync(TimeSpan.FromSeconds(30)));
        // Before: "ferry run: could not start: Failed to bind the bridge to port P+1 …: stage 'PUSH' cannot listen on …".
        var error = Assert.Single(run.Err.Lines, l => l.StartsWith("ferry run:", StringComparison.Ordinal));
        // Found before anything starts (BindPreflight): the port, its role, and why.
        Assert.Equal($"ferry run: could not start: stage 'rogue' (bridge_server, PUSH) cannot listen on 127.0.0.1:{first + 1}: AddressAlreadyInUse: "
            + "Address already in use (another process listens on that port); nothing had started", error);
        Assert.True(FreePorts.IsFree(first), "the bridge's first port was let go");
    }
}
