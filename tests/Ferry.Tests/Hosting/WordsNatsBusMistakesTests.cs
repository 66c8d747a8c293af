using Ferry.Hosting;
using Ferry.Nats;
using Ferry.Tests.Support;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace Ferry.Tests.Hosting;

/// <summary>
/// A NATS bus with a mistake in every option, from each place a user sets it: a run file (<c>ferry check</c>), appsettings.json
/// (<c>AddFerry</c>) and code (<see cref="FerryOptions.Nats"/>). Every problem says where (line and column, configuration key or
/// property), the value and what is allowed, once.
/// </summary>
public sealed class WordsNatsBusMistakesTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("ferry-words-nats-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public async Task A_run_file_is_told_each_mistake_once_at_its_key()
    {
        var file = Path.Combine(_dir, "bus.yaml");
        File.WriteAllText(file, """
            bus:
              type: nats
              subject_prefix: "a b"
              events_subject: [a, b]
            stages:
              - {name: s, type: tcp_server, config: {bind: "127.0.0.1:0"}}
            """);
        var (code, _, stderr) = await CliRun.RunAsync("check", file);
        Assert.Equal(2, code);
        // Before, a third line: "bus.events_subject: '{prefix}.{stage}.events' is not allowed; …", the default the list left, which
        // the user never wrote, made invalid by the prefix.
        Assert.Equal(
        [
            $"{file}:3:3: bus.subject_prefix: 'a b' is not allowed; use subject tokens (letters, digits, '-', '_') separated by '.'",
            $"{file}:4:3: bus.events_subject: must be a single value, not a block or a list",
            $"ferry check: {file}: 2 problems; nothing was started",
        ], stderr);
    }

    [Fact]
    public async Task Nats_options_set_in_code_fail_the_hosts_validation_by_their_properties()
    {
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Services.AddFerry();
        builder.Services.AddTcpServerStage("pos", o => o with { Bind = "127.0.0.1:0" });
        builder.Services.Configure<FerryOptions>(o => o.Nats = new NatsGatewayOptions { Url = "http://x", MaxInFlight = 0, AckTimeout = TimeSpan.FromSeconds(-1) });
        using var host = builder.Build();
        // Before: a NatsOptionsException of its own from the first gateway built, after validation had passed.
        var error = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync());
        Assert.Equal(
        [
            "NatsGatewayOptions.Url: 'http://x' is not allowed; use nats://host:port (or tls://, ws://, wss://)",
            "NatsGatewayOptions.MaxInFlight: 0 is not allowed; must be from 1 to 65536",
            "NatsGatewayOptions.AckTimeout: -1s is not allowed; must be from 10ms to 10m",
        ], error.Failures);
        Assert.Empty(host.Services.GetRequiredService<FerryStages>().Servers);
    }

    [Fact]
    public async Task A_zero_timespan_is_told_to_write_0_not_0h()
    {
        // Before: "… '00:00:00' is a .NET TimeSpan; write durations with a unit: 0h (…)".
        var failures = await HostStartFailures.OfAsync("""
            { "Ferry": { "Bus": { "Type": "nats", "PublishTimeout": "00:00:00" }, "Stages": { "pos": { "Type": "tcp_server", "Bind": "127.0.0.1:0" } } } }
            """);
        Assert.Equal("configuration 'Ferry:Bus:PublishTimeout': Bus.PublishTimeout: '00:00:00' is a .NET TimeSpan; write durations with a unit: 0 "
            + "(e.g. 30s, 500ms, 2m, 1h or 0)", Assert.Single(failures));
    }
}
