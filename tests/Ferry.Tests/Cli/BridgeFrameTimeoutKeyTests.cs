using Ferry.Tests.Support;

namespace Ferry.Tests.Cli;

/// <summary>A bridge end's <c>frame_timeout</c> in a pipeline file: 0 (no limit, the default) or a duration, checked with the rest.</summary>
public sealed class BridgeFrameTimeoutKeyTests : IDisposable
{
    private readonly ScratchFiles _files = new("ferry-bridge-frame-timeout-");

    public void Dispose() => _files.Dispose();

    [Fact]
    public async Task Is_taken_on_both_bridge_ends()
    {
        var file = _files.Write("ok.yaml", """
            stages:
              - {name: bs, type: bridge_server, config: {address: 127.0.0.1, port: 25500, frame_timeout: 0}}
              - {name: bc, type: bridge_client, config: {address: 127.0.0.1, port: 25500, frame_timeout: 2m}}
            """);
        var (code, stdout, stderr) = await CliRun.RunAsync("check", file);
        Assert.Equal(0, code);
        Assert.Empty(stderr);
        Assert.StartsWith($"{file}: valid: 2 stages", Assert.Single(stdout));
    }

    [Fact]
    public async Task A_bad_value_is_told_at_its_key()
    {
        var file = _files.Write("bad.yaml", """
            stages:
              - {name: bs, type: bridge_server, config: {address: 127.0.0.1, port: 25500, frame_timeout: -1s}}
            """);
        var (code, _, stderr) = await CliRun.RunAsync("check", file);
        Assert.Equal(2, code);
        Assert.Equal(
        [
            $"{file}:2:79: stages[0].config.frame_timeout: '-1s' is not a duration: it is negative; write one such as 500ms, 30s, 2m or 1h",
            $"ferry check: {file}: 1 problem; nothing was started",
        ], stderr);
    }
}
