using System.Buffers;
using System.Net.Sockets;
using System.Text;
using Ferry.Bridge;
using Ferry.Bridge.Zmtp;
using Ferry.Hosting;
using Ferry.Tests.Support;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Ferry.Tests.Bridge;

/// <summary>
/// A bridge end's stop has the stages' contract: the grace period bounds the drain, and the caller's token cuts it short
/// (connections closed, ports released, the stop completes). Before, <c>StopAsync()</c> took no token, and the host only
/// stopped waiting for a bridge end whose drain went on after the host had stopped. Each test holds the drain open with a
/// peer that completed the handshake on the server's PUSH port and never reads, behind a full send buffer, on a fake clock
/// that is not moved: only the token (or the test moving the clock) can end the stop.
/// </summary>
public sealed class BridgeStopTests
{
    private const string Loopback = "127.0.0.1";
    private static readonly TimeSpan Grace = TimeSpan.FromSeconds(5);

    [Fact]
    public async Task A_cancelled_token_ends_a_drain_that_cannot_finish_closes_the_peer_and_releases_the_ports()
    {
        int port = FreePorts.Pair();
        var time = new StageTime();
        await using var server = new FrameBridgeServer(Loopback, port, SmallBuffers(time));
        using var peer = await StalledPeer.ConnectAsync(port + 1);
        await StalledPeer.FillUntilBlockedAsync(server, time, 64 * 1024);

        using var cts = new CancellationTokenSource();
        Task stopping = server.StopAsync(cts.Token);
        await time.SettleAsync(server.PushStage);
        Assert.False(stopping.IsCompleted, "the drain should be held by the peer that does not read");
        Assert.Equal(1, server.PushStage.ConnectionCount);

        cts.Cancel();
        await stopping.WaitAsync(Poll.DefaultTimeout);
        Assert.True(stopping.IsCompletedSuccessfully, $"the stop should complete, not be {stopping.Status}");
        Assert.Equal(0.0, time.ElapsedMs); // the clock never moved: the token, not the grace period, ended it
        Assert.Equal((0, 0), (server.PushStage.ConnectionCount, server.PullStage.ConnectionCount));
        Assert.False(FreePorts.Listens(port), $"port {port} still listens");
        Assert.False(FreePorts.Listens(port + 1), $"port {port + 1} still listens");
        await peer.WaitClosedAsync();
    }

    [Fact]
    public async Task Without_a_token_the_grace_period_ends_a_drain_that_cannot_finish()
    {
        int port = FreePorts.Pair();
        var time = new StageTime();
        await using var server = new FrameBridgeServer(Loopback, port, SmallBuffers(time));
        using var peer = await StalledPeer.ConnectAsync(port + 1);
        await StalledPeer.FillUntilBlockedAsync(server, time, 64 * 1024);

        Task stopping = server.StopAsync();
        await time.SettleAsync(server.PushStage); // the stop has begun at +0: its deadline is +5 s
        time.Advance(Grace - TimeSpan.FromMilliseconds(1));
        await time.SettleAsync(server.PushStage);
        Assert.False(stopping.IsCompleted, "the stop should drain for the whole grace period");

        time.Advance(TimeSpan.FromMilliseconds(1));
        await stopping.WaitAsync(Poll.DefaultTimeout);
        Assert.True(stopping.IsCompletedSuccessfully, $"the stop should complete, not be {stopping.Status}");
        Assert.Equal((0, 0), (server.PushStage.ConnectionCount, server.PullStage.ConnectionCount));
        Assert.False(FreePorts.Listens(port + 1), $"port {port + 1} still listens");
        await peer.WaitClosedAsync();
    }

    [Fact]
    public async Task A_token_given_to_a_second_stop_call_cuts_the_first_ones_drain_short()
    {
        int port = FreePorts.Pair();
        var time = new StageTime();
        await using var server = new FrameBridgeServer(Loopback, port, SmallBuffers(time));
        using var peer = await StalledPeer.ConnectAsync(port + 1);
        await StalledPeer.FillUntilBlockedAsync(server, time, 64 * 1024);

        Task first = server.StopAsync();
        Task second = server.StopAsync(new CancellationToken(canceled: true));
        await Task.WhenAll(first, second).WaitAsync(Poll.DefaultTimeout);
        Assert.True(first.IsCompletedSuccessfully && second.IsCompletedSuccessfully, $"both stops should complete: {first.Status}, {second.Status}");
        Assert.Equal(0, server.PushStage.ConnectionCount);
        await peer.WaitClosedAsync();
    }

    [Fact]
    public async Task A_hosted_bridge_end_is_stopped_within_the_hosts_shutdown_timeout_and_its_connections_and_ports_are_released()
    {
        int port = FreePorts.Pair();
        var time = new StageTime();
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Configuration.AddJsonStream(new MemoryStream(Encoding.UTF8.GetBytes($$"""
            { "Ferry": { "Stages": [ { "Name": "rogue", "Type": "bridge_server", "Address": "{{Loopback}}", "Port": {{port}} } ] } }
            """)));
        builder.Services.AddFerry(builder.Configuration.GetSection("Ferry"));
        // The bridge's grace period is the shutdown timeout, on the fake clock that is never moved: only the host's token
        // (which fires after the timeout in real time) can end its drain.
        builder.Services.AddSingleton<TimeProvider>(time);
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromMilliseconds(200));
        using var host = builder.Build();
        await host.StartAsync();
        var bridge = Assert.IsType<FrameBridgeServer>(host.Services.GetRequiredService<FerryStages>().Bridges["rogue"]);
        using var peer = await StalledPeer.ConnectAsync(port + 1);
        await StalledPeer.FillUntilBlockedAsync(bridge, time, 1024 * 1024);

        await host.StopAsync().WaitAsync(Poll.DefaultTimeout);

        // Before, the host stopped waiting and returned while the end went on draining: the peer's connection was still
        // open here (and stayed so: the fake grace period never ends).
        Assert.Equal((0, 0), (bridge.PushStage.ConnectionCount, bridge.PullStage.ConnectionCount));
        Assert.False(FreePorts.Listens(port), $"port {port} still listens");
        Assert.False(FreePorts.Listens(port + 1), $"port {port + 1} still listens");
        await peer.WaitClosedAsync();
    }

    [Fact]
    public async Task A_hosted_bridge_end_drains_for_its_own_stop_grace_period_not_the_hosts_shutdown_timeout()
    {
        int port = FreePorts.Pair();
        var time = new StageTime();
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Configuration.AddJsonStream(new MemoryStream(Encoding.UTF8.GetBytes($$"""
            { "Ferry": { "Stages": [ { "Name": "rogue", "Type": "bridge_server", "Address": "{{Loopback}}", "Port": {{port}}, "StopGracePeriod": "2s" } ] } }
            """)));
        builder.Services.AddFerry(builder.Configuration.GetSection("Ferry"));
        builder.Services.AddSingleton<TimeProvider>(time);
        // The host would wait ten minutes (real time, so its token never fires here): only the end's own grace period, on the
        // fake clock, can end the drain held open by a peer that does not read.
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromMinutes(10));
        using var host = builder.Build();
        await host.StartAsync();
        var bridge = Assert.IsType<FrameBridgeServer>(host.Services.GetRequiredService<FerryStages>().Bridges["rogue"]);
        using var peer = await StalledPeer.ConnectAsync(port + 1);
        await StalledPeer.FillUntilBlockedAsync(bridge, time, 64 * 1024);

        Task stopping = host.StopAsync();
        // The PULL stage is told to stop right after the PUSH stage: once its port refuses, the PUSH stage's stop is on its way,
        // and the settled round below has begun it at +0 (probing the PUSH port would add a connection to the one counted).
        await Poll.UntilAsync(() => !FreePorts.Listens(port), "the end's stop to begin (it stops accepting)");
        await time.SettleAsync(bridge.PushStage);
        time.Advance(TimeSpan.FromSeconds(2) - TimeSpan.FromMilliseconds(1));
        await time.SettleAsync(bridge.PushStage);
        Assert.False(stopping.IsCompleted, "the end should drain for its whole stop_grace_period of 2 s");
        Assert.Equal(1, bridge.PushStage.ConnectionCount);

        time.Advance(TimeSpan.FromMilliseconds(1)); // its grace period, not the host's ten minutes, ends the drain
        await stopping.WaitAsync(Poll.DefaultTimeout);
        Assert.Equal((0, 0), (bridge.PushStage.ConnectionCount, bridge.PullStage.ConnectionCount));
        await peer.WaitClosedAsync();
    }

    private static FrameBridgeOptions SmallBuffers(TimeProvider time) => new()
    {
        TimeProvider = time,
        StopGracePeriod = Grace,
        SendBufferBytes = 64 * 1024,
    };
}
