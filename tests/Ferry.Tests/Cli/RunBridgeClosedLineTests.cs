using Ferry.Cli;
using Ferry.Tests.Support;

namespace Ferry.Tests.Cli;

/// <summary>A bridge end in ferry run says <c>closed</c> at the stop, as the TCP stages do (and ferry bridge); before, it said nothing.</summary>
public sealed class RunBridgeClosedLineTests : IDisposable
{
    private readonly ScratchFiles _files = new("ferry-run-bridge-closed-");

    public void Dispose() => _files.Dispose();

    [Fact]
    public async Task Each_bridge_end_and_stage_prints_its_closed_line_at_the_stop()
    {
        var port = FreePorts.Pair();
        var file = _files.Write("bridge.yaml", $"""
            stages:
              - {"{"}name: bs, type: bridge_server, config: {"{"}address: 127.0.0.1, port: {port}{"}"}{"}"}
              - {"{"}name: front, type: tcp_server, config: {"{"}bind: 127.0.0.1:0{"}"}{"}"}
            """);
        var stdout = new LineWriter();
        using var stop = new CancellationTokenSource();
        var run = Task.Run(() => FerryCommand.RunAsync(["run", file, "--quiet"], new QueueReader(), stdout, new LineWriter(), new Dictionary<string, string>(), stop.Token));
        await stdout.WaitJsonAsync(j => LineWriter.Is(j, "listening"), "front listening (the bridge end, declared first, has started)");

        stop.Cancel();
        Assert.Equal(0, await run.WaitAsync(TimeSpan.FromSeconds(30)));
        var closed = stdout.Json.Where(j => LineWriter.Is(j, "closed")).Select(j => j.GetProperty("stage").GetString()).ToList();
        Assert.Equal(["bs", "front"], closed.Order());
    }
}
