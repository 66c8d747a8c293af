using System.Text;
using Ferry.Hosting;
using Ferry.Nats.Tests.Support;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;

namespace Ferry.Nats.Tests;

/// <summary>AddFerry with a <c>Bus</c> section of type nats: the server stage is on NATS, and the health check follows the broker.</summary>
public sealed class HostHealthTests
{
    [SkippableFact]
    public async Task The_ferry_health_check_flips_when_NATS_goes_down_and_back_when_it_returns()
    {
        await using var server = await NatsServer.StartNewAsync();
        using var host = HostedGateway.Build("front", server.Url, "hosted");
        await host.StartAsync();
        try
        {
            var stages = host.Services.GetRequiredService<FerryStages>();
            var gateway = stages.Gateways["front"];
            Assert.Equal("hosted.front.in", gateway.IngressSubject);
            var health = host.Services.GetRequiredService<HealthCheckService>();
            Assert.Equal(HealthStatus.Healthy, (await health.CheckHealthAsync()).Status);

            // A client's line reaches the subject through the hosted stage.
            await using var nats = await Observer.ConnectAsync(server);
            await using var ingress = await Observer.CollectAsync(nats, "hosted.front.in");
            using (var client = await TestClient.ConnectAsync(stages.GetServer("front").LocalEndPoint!.Port))
            {
                await client.SendAsync("hi\n");
                await Eventually.TrueAsync(() => !ingress.Messages.IsEmpty, TimeSpan.FromSeconds(10), () => "nothing on hosted.front.in");
            }

            server.Kill();
            HealthReport report = null!;
            await Eventually.TrueAsync(() => (report = health.CheckHealthAsync().GetAwaiter().GetResult()).Status == HealthStatus.Unhealthy,
                TimeSpan.FromSeconds(20), () => "still healthy with NATS down");
            Assert.Contains("server stage 'front' is not connected to NATS", report.Entries["ferry"].Description);
            Assert.Equal("broker not connected, or a gateway loop ended", report.Entries["ferry"].Data["front.nats"]);

            await server.StartAsync();
            await Eventually.TrueAsync(() => health.CheckHealthAsync().GetAwaiter().GetResult().Status == HealthStatus.Healthy,
                TimeSpan.FromSeconds(30), () => "not healthy again after NATS came back");
        }
        finally
        {
            await host.StopAsync();
        }
    }

    [Fact]
    public async Task A_bad_nats_bus_section_fails_the_host_start_naming_the_key()
    {
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Configuration.AddJsonStream(new MemoryStream(Encoding.UTF8.GetBytes("""
            { "Ferry": { "Stages": { "front": { "Type": "tcp_server", "Bind": "127.0.0.1:0" } },
                         "Bus": { "Type": "nats", "Url": "http://x", "Mode": "fast", "MaxInFlight": "0" } } }
            """)));
        builder.Services.AddFerry(builder.Configuration.GetSection("Ferry"));
        using var host = builder.Build();
        var error = await Assert.ThrowsAsync<Microsoft.Extensions.Options.OptionsValidationException>(() => host.StartAsync());
        Assert.Contains(error.Failures, f => f.StartsWith("configuration 'Ferry:Bus:Mode': Bus.Mode: 'fast' is not allowed", StringComparison.Ordinal)
            && f.EndsWith("(allowed: core, jetstream)", StringComparison.Ordinal));
        Assert.Contains("configuration 'Ferry:Bus:Url': Bus.Url: 'http://x' is not allowed; use nats://host:port (or tls://, ws://, wss://)", error.Failures);
        Assert.Contains("configuration 'Ferry:Bus:MaxInFlight': Bus.MaxInFlight: '0' is not allowed; use a whole number from 1 to 65536", error.Failures);
    }
}
