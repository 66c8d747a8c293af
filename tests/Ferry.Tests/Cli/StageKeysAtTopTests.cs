using Ferry.Tests.Support;

namespace Ferry.Tests.Cli;

/// <summary>
/// Seed 004's node configuration copied as it is (host, port, timeout_seconds, max_connections at the top of the file) is a
/// stage's config, not a pipeline: each key is told where it goes, not only that it is not a pipeline's.
/// </summary>
public sealed class StageKeysAtTopTests : IDisposable
{
    private readonly ScratchFiles _files = new("ferry-topkeys-");

    public void Dispose() => _files.Dispose();

    [Fact]
    public void A_bare_node_configuration_is_told_to_go_in_a_stages_config()
    {
        var file = _files.Write("node.yaml", "host: 127.0.0.1\nport: 9000\ntimeout_seconds: 30\ntype: tcp_server\ntelemetri: {}\n");
        var (pipeline, err) = PipelineFileCheck.Load(file, "node.yaml");
        Assert.Null(pipeline);
        const string Example = "e.g. stages: [{name: node, type: tcp_server, config: {host: 127.0.0.1, port: 3035}}]";
        Assert.Equal(
        [
            $"node.yaml:1:1: host: unknown key 'host' at the top of a pipeline file: it is a stage's config key; put the stage's keys in its config, {Example}, as examples/seed004-node.yaml does (allowed here: stages, bus, routes, telemetry)",
            "node.yaml:1:1: stages: missing key 'stages': a pipeline needs at least one stage",
            $"node.yaml:2:1: port: unknown key 'port' at the top of a pipeline file: it is a stage's config key; put the stage's keys in its config, {Example}, as examples/seed004-node.yaml does (allowed here: stages, bus, routes, telemetry)",
            $"node.yaml:3:1: timeout_seconds: unknown key 'timeout_seconds' at the top of a pipeline file: it is a stage's config key; put the stage's keys in its config, {Example}, as examples/seed004-node.yaml does (allowed here: stages, bus, routes, telemetry)",
            $"node.yaml:4:1: type: unknown key 'type' at the top of a pipeline file: it is a stage's key; write each stage as an item of stages, {Example} (allowed here: stages, bus, routes, telemetry)",
            "node.yaml:5:1: telemetri: unknown key 'telemetri' (did you mean 'telemetry'?) (allowed: stages, bus, routes, telemetry)",
            "ferry check: node.yaml: 6 problems; nothing was started",
        ], err);
    }
}
