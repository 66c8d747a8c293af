using Ferry.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;

namespace Ferry.Tests.Hosting;

/// <summary>
/// <see cref="FerryStages"/> is the host's: an instance built by anyone else would never hold a stage, so it has no public
/// constructor, and the container (which calls only public ones) gets it from <c>AddFerry</c>'s factory, one per provider.
/// </summary>
public sealed class FerryStagesConstructionTests
{
    [Fact]
    public void FerryStages_has_no_public_constructor()
        => Assert.Empty(typeof(FerryStages).GetConstructors());

    [Fact]
    public async Task A_host_with_AddFerry_resolves_one_FerryStages_for_its_service_its_health_check_and_the_application()
    {
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Services.AddFerry();
        builder.Services.AddTcpServerStage("front", o => o with { Bind = "127.0.0.1:0" });
        using var host = builder.Build();
        await host.StartAsync();
        try
        {
            var stages = host.Services.GetRequiredService<FerryStages>();
            Assert.Same(stages, host.Services.GetRequiredService<FerryStages>());
            var front = stages.GetServer("front"); // the host's start filled the instance the application resolves
            await front.WaitListeningAsync().WaitAsync(TimeSpan.FromSeconds(10));

            // The health check is built by the container with the same instance: it sees the stage.
            var report = await host.Services.GetRequiredService<HealthCheckService>().CheckHealthAsync();
            Assert.Equal(HealthStatus.Healthy, report.Entries["ferry"].Status);
            Assert.Contains("front", report.Entries["ferry"].Data.Keys);
        }
        finally
        {
            await host.StopAsync();
        }
    }
}
