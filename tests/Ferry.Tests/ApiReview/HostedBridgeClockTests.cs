using System.Text;
using Ferry.Bridge;
using Ferry.Hosting;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Time.Testing;

namespace Ferry.Tests.ApiReview;

/// <summary>
/// "Hosted stages run on the registered TimeProvider" (README): the TCP stages did, the bridge ends the host runs beside them
/// did not (the system clock), so under a registered fake clock their handshake deadlines, send timeouts and reconnect
/// delays ran in real time while everything else waited for the test to move the clock.
/// </summary>
public sealed class HostedBridgeClockTests
{
    [Fact]
    public async Task Hosted_bridge_ends_run_on_the_registered_time_provider()
    {
        var port = Support.FreePorts.Pair();
        var fake = new FakeTimeProvider(DateTimeOffset.UnixEpoch);
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Configuration.AddJsonStream(new MemoryStream(Encoding.UTF8.GetBytes($$"""
            { "Ferry": { "Stages": [
                { "Name": "tcp", "Type": "tcp_server", "Bind": "127.0.0.1:0" },
                { "Name": "rogue", "Type": "bridge_server", "Address": "127.0.0.1", "Port": {{port}} } ] } }
            """)));
        builder.Services.AddFerry(builder.Configuration.GetSection("Ferry"));
        builder.Services.AddSingleton<TimeProvider>(fake);
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(5));
        using var host = builder.Build();
        await host.StartAsync();
        try
        {
            var stages = host.Services.GetRequiredService<FerryStages>();
            Assert.Same(fake, stages.GetServer("tcp").Core.Clock.Time);
            var bridge = Assert.IsType<FrameBridgeServer>(stages.Bridges["rogue"]);
            Assert.Same(fake, bridge.PullStage.Core.Clock.Time);   // before: TimeProvider.System
            Assert.Same(fake, bridge.PushStage.Core.Clock.Time);
        }
        finally
        {
            await host.StopAsync();
        }
    }
}
