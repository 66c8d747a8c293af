using Ferry.Tests.Support;

namespace Ferry.Tests.Cli;

/// <summary>
/// A NATS bus nobody answers on: the first stage's gateway cannot connect, so nothing started. Before, the line said
/// "stopping what had started" (the gateway was counted as started before its start), with stdout empty.
/// </summary>
public sealed class RunUnreachableBrokerTests : IDisposable
{
    private readonly ScratchFiles _files = new("ferry-run-nobroker-");

    public void Dispose() => _files.Dispose();

    [Fact]
    public async Task Says_nothing_had_started_and_exits_1()
    {
        var port = FreePorts.One(); // free: nobody listens there
        var file = _files.Write("two.yaml", $"""
            stages:
              - {"{"}name: a, type: tcp_server, config: {"{"}bind: 127.0.0.1:0{"}"}{"}"}
              - {"{"}name: b, type: tcp_server, config: {"{"}bind: 127.0.0.1:0{"}"}{"}"}
            bus: {"{"}type: nats, url: "nats://127.0.0.1:{port}"{"}"}
            """);
        var (code, stdout, stderr) = await CliRun.RunAsync("run", file, "--log-level", "none").WaitAsync(TimeSpan.FromSeconds(60));
        Assert.Equal(1, code);
        Assert.DoesNotContain(stdout, l => l.Contains("\"listening\"", StringComparison.Ordinal));
        var line = Assert.Single(stderr);
        Assert.StartsWith($"ferry run: could not start: NATS gateway of stage 'a': cannot connect to 'nats://127.0.0.1:{port}'", line);
        Assert.EndsWith("; nothing had started", line);
    }
}
