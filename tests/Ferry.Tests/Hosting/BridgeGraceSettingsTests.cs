using System.Text;
using Ferry.Bridge;
using Ferry.Cli;
using Ferry.Hosting;
using Ferry.Hosting.Settings;
using Ferry.Tests.Support;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Ferry.Tests.Hosting;

/// <summary>
/// A bridge end's <c>stop_grace_period</c> in a run file and in a Generic Host's configuration: the tcp stages' key, with
/// their syntax and messages, and in a host never more than its shutdown timeout. Before, the key was unknown to bridge
/// ends (a run file or a host that gave it was refused), and a hosted end always drained for the host's shutdown timeout.
/// </summary>
public sealed class BridgeGraceSettingsTests : IDisposable
{
    private readonly ScratchFiles _files = new("ferry-bridge-grace-");

    public void Dispose() => _files.Dispose();

    [Fact]
    public void A_run_files_bridge_ends_take_stop_grace_period_and_leave_it_at_the_bridges_default_when_unset()
    {
        var file = Write("grace.yaml", """
            stages:
              - {name: a, type: bridge_server, config: {address: 127.0.0.1, port: 23040, stop_grace_period: 250ms}}
              - {name: b, type: bridge_client, config: {address: 127.0.0.1, port: 23040, stop_grace_period: 0}}
              - {name: c, type: bridge_client, address: 127.0.0.1, port: 23042}
            """);
        var stderr = new LineWriter();
        var pipeline = RunCommand.Load(file, [], new CliIo(TextReader.Null, new LineWriter(), stderr, new Dictionary<string, string>()), "check");
        Assert.Empty(stderr.Lines);
        var graces = pipeline!.Stages.Cast<BridgeStageDeclaration>().Select(b => b.StopGracePeriod).ToList();
        Assert.Equal([TimeSpan.FromMilliseconds(250), TimeSpan.Zero, new FrameBridgeOptions().StopGracePeriod], graces);
    }

    [Fact]
    public async Task A_bad_stop_grace_period_of_a_bridge_end_gets_the_stages_message_at_its_key()
    {
        var file = Write("bad.yaml", """
            stages:
              - {name: t, type: tcp_server, config: {bind: "127.0.0.1:23050", stop_grace_period: soon}}
              - {name: a, type: bridge_server, config: {address: 127.0.0.1, port: 23051, stop_grace_period: soon}}
              - {name: b, type: bridge_client, config: {address: 127.0.0.1, port: 23051, stop_grace_period: -1s}}
              - {name: c, type: bridge_client, config: {address: 127.0.0.1, port: 23051, stop_grace_period: 5}}
            """);
        var stdout = new LineWriter();
        var stderr = new LineWriter();
        var code = await FerryCommand.RunAsync(["check", file], TextReader.Null, stdout, stderr, new Dictionary<string, string>(), CancellationToken.None);
        Assert.Equal(2, code);
        Assert.Equal(
        [
            $"{file}:2:67: stages[0].config.stop_grace_period: 'soon' is not a duration; use e.g. 30s, 500ms, 2m, 1h or 0",
            $"{file}:3:78: stages[1].config.stop_grace_period: 'soon' is not a duration; use e.g. 30s, 500ms, 2m, 1h or 0",
            $"{file}:4:78: stages[2].config.stop_grace_period: '-1s' is not a duration: it is negative; write one such as 500ms, 30s, 2m or 1h",
            $"{file}:5:78: stages[3].config.stop_grace_period: '5' has no unit: write 5s or 5ms",
            $"ferry check: {file}: 4 problems; nothing was started",
        ], stderr.Lines);
    }

    [Fact]
    public async Task A_hosted_bridge_ends_stop_grace_period_is_kept_up_to_the_hosts_shutdown_timeout()
    {
        var (p1, p2, p3) = (FreePorts.Pair(), FreePorts.Pair(), FreePorts.Pair());
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Configuration.AddJsonStream(new MemoryStream(Encoding.UTF8.GetBytes($$"""
            { "Ferry": { "Stages": {
                "short": { "Type": "bridge_server", "Address": "127.0.0.1", "Port": {{p1}}, "StopGracePeriod": "2s" },
                "long":  { "Type": "bridge_server", "Address": "127.0.0.1", "Port": {{p2}}, "StopGracePeriod": "5m" },
                "unset": { "Type": "bridge_client", "Address": "127.0.0.1", "Port": {{p3}} } } } }
            """)));
        builder.Services.AddFerry(builder.Configuration.GetSection("Ferry"));
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(20));
        using var host = builder.Build();
        await host.StartAsync();
        var bridges = host.Services.GetRequiredService<FerryStages>().Bridges;

        Assert.Equal(TimeSpan.FromSeconds(2), Grace(bridges["short"]));   // before: the key was refused, and every end got the shutdown timeout
        Assert.Equal(TimeSpan.FromSeconds(20), Grace(bridges["long"]));   // cut to what the host waits
        Assert.Equal(TimeSpan.FromSeconds(20), Grace(bridges["unset"]));  // not set: the shutdown timeout, as before
        await host.StopAsync();
    }

    private static TimeSpan Grace(IFrameBridge bridge) => ((FrameBridgeEnd)bridge).Options.StopGracePeriod;

    private string Write(string name, string text) => _files.Write(name, text);
}
