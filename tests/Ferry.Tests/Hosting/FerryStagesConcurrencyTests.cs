using Ferry.Bus;
using Ferry.Hosting;
using Ferry.Stages;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Ferry.Tests.Hosting;

/// <summary>
/// The host fills <see cref="FerryStages"/> while it starts and empties it when it stops, while a health probe (or code
/// that injected it) reads it from other threads: a read must see the stages as they were or are, never fail
/// ("Collection was modified" turned a health probe during a stop into an exception report).
/// </summary>
public sealed class FerryStagesConcurrencyTests
{
    [Fact]
    public async Task A_health_check_during_the_hosts_start_and_stop_never_fails_on_the_stage_list()
    {
        var bus = new InProcessBus();
        var built = new List<TcpServerStage>();
        for (var i = 0; i < 32; i++)
            built.Add(new TcpServerStage(new TcpServerStageOptions { Name = $"s{i}", Bind = "127.0.0.1:0" }, bus));
        try
        {
            var stages = new FerryStages();
            var check = new FerryHealthCheck(stages);
            var context = new HealthCheckContext
            {
                Registration = new HealthCheckRegistration("ferry", check, HealthStatus.Unhealthy, null),
            };
            using var done = new CancellationTokenSource(TimeSpan.FromSeconds(2));
            // The host's side: the stages are added one by one at a start and all cleared at a stop, again and again.
            var host = Task.Run(() =>
            {
                while (!done.IsCancellationRequested)
                {
                    stages.Starting();
                    foreach (var stage in built)
                        stages.Add(stage);
                    stages.Started();
                    stages.Clear();
                }
            });
            var probes = 0;
            Exception? failure = null;
            while (!done.IsCancellationRequested && failure is null)
            {
                try
                {
                    await check.CheckHealthAsync(context);
                    _ = stages.Servers.Values.Count();
                    probes++;
                }
                catch (InvalidOperationException ex)
                {
                    failure = ex;
                }
            }
            await host.WaitAsync(TimeSpan.FromSeconds(30));
            Assert.Null(failure);
            Assert.True(probes > 0);
        }
        finally
        {
            foreach (var stage in built)
                await stage.DisposeAsync();
        }
    }
}
