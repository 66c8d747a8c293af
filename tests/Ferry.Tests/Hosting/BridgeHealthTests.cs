using System.Text;
using Ferry.Bridge;
using Ferry.Hosting;
using Ferry.Tests.Bridge;
using Ferry.Tests.Support;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;

namespace Ferry.Tests.Hosting;

/// <summary>
/// The <c>ferry</c> health check's word for a hosted bridge end while it stops. Before, it said "waiting for its peer" (and
/// "has no ready peer") from the moment a stop began, since the end is not ready from then on, with its peer still there.
/// </summary>
public sealed class BridgeHealthTests
{
    [Fact]
    public async Task A_bridge_end_is_reported_stopping_while_its_drain_runs_and_stopped_afterwards()
    {
        int port = FreePorts.Pair();
        var time = new StageTime();
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Configuration.AddJsonStream(new MemoryStream(Encoding.UTF8.GetBytes($$"""
            { "Ferry": { "Stages": { "rogue": { "Type": "bridge_server", "Address": "127.0.0.1", "Port": {{port}} } } } }
            """)));
        builder.Services.AddFerry(builder.Configuration.GetSection("Ferry"));
        // A grace period of ten minutes on a fake clock that is not moved: the drain held by the peer that does not read
        // lasts until the test cuts it short.
        builder.Services.AddSingleton<TimeProvider>(time);
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromMinutes(10));
        using var host = builder.Build();
        await host.StartAsync();
        var health = host.Services.GetRequiredService<HealthCheckService>();
        var bridge = Assert.IsType<FrameBridgeServer>(host.Services.GetRequiredService<FerryStages>().Bridges["rogue"]);
        using var peer = await StalledPeer.ConnectAsync(port + 1);
        await StalledPeer.FillUntilBlockedAsync(bridge, time, 64 * 1024);
        var (status, description, state) = await CheckAsync(health);
        Assert.Equal((HealthStatus.Unhealthy, "bridge end 'rogue' has no ready peer", "waiting for its peer"), (status, description, state)); // PULL has none

        Task stopping = bridge.StopAsync();
        Assert.False(stopping.IsCompleted, "the drain should be held by the peer that does not read");
        (status, description, state) = await CheckAsync(health);
        // Before: "waiting for its peer" and "has no ready peer", with the peer connected and the end draining to it.
        Assert.Equal((HealthStatus.Unhealthy, "bridge end 'rogue' is stopping", "stopping"), (status, description, state));

        await bridge.StopAsync(new CancellationToken(canceled: true)); // cuts the drain short
        await stopping.WaitAsync(Poll.DefaultTimeout);
        (status, description, state) = await CheckAsync(health);
        Assert.Equal((HealthStatus.Unhealthy, "bridge end 'rogue' is stopped", "stopped"), (status, description, state));

        await host.StopAsync();
        await peer.WaitClosedAsync();
    }

    private static async Task<(HealthStatus Status, string? Description, object State)> CheckAsync(HealthCheckService health)
    {
        var entry = (await health.CheckHealthAsync()).Entries["ferry"];
        return (entry.Status, entry.Description, entry.Data["rogue"]);
    }
}
