using Ferry.Stages;

namespace Ferry.Cli;

/// <summary>
/// What a stop did, said once every stage has stopped: each stage's totals as a last <c>stats</c> line (the periodic
/// ones end with the stop, and a scrape endpoint goes with the process, so egress that a grace period running out
/// dropped would be nowhere), and one stderr line per stage whose stop dropped queued egress, in bytes (what connections' buffers held has no
/// message count) and the whole messages among them.
/// </summary>
internal sealed class StopAccount
{
    private readonly List<(string? Name, Func<SocketStats> Read, Func<(long Bytes, long Packets)> StopDropped, Func<long> IngressDropped)> _stages = [];

    /// <summary>
    /// A stage to account for: <paramref name="read"/> its totals, <paramref name="stopDropped"/> what the end of its stop
    /// dropped (not what overflowed a full buffer during the grace period, which is a drop like any other);
    /// <paramref name="name"/> tags its line (null for one stage alone); <paramref name="ingressDropped"/> the packets read
    /// from clients that a forced stop never handed to the subscribers (<c>StageEngine.IngressStopDropped</c>).
    /// </summary>
    public void Add(string? name, Func<SocketStats> read, Func<(long Bytes, long Packets)> stopDropped, Func<long> ingressDropped)
        => _stages.Add((name, read, stopDropped, ingressDropped));

    /// <summary>After the stop: each stage's last <c>stats</c> line, and a stderr line for each stage whose stop dropped egress.</summary>
    /// <param name="command">Begins the stderr lines (<c>ferry run</c>, <c>ferry serve</c>).</param>
    /// <param name="graceSetting">What sets the grace period where the stage was declared (<c>stop_grace_period</c> in a
    /// run file, <c>--stop-grace-period</c> for <c>ferry serve</c>): the line names what the operator can change.</param>
    /// <param name="output">Where the <c>stats</c> lines go.</param>
    /// <param name="stderr">Where the dropped-egress lines go.</param>
    public void Report(string command, string graceSetting, JsonLineWriter output, TextWriter stderr)
    {
        foreach (var (name, read, stopDropped, ingressDropped) in _stages)
        {
            output.Write(JsonLineWriter.Stats(read()) with { Stage = name }, CliJsonContext.Default.StatsLine);
            var (bytes, packets) = stopDropped();
            if (bytes > 0 || packets > 0)
            {
                // Bytes are the whole account: what a closing connection's egress buffer held is counted in bytes
                // only (the buffer keeps no message boundaries); messages refused whole are counted as such too.
                var whole = packets > 0 ? $" ({packets} whole message{(packets == 1 ? "" : "s")} among them)" : "";
                JsonStderrWriter.Line(stderr, Microsoft.Extensions.Logging.LogLevel.Warning, $"{command}: {(name is null ? "the stage" : $"stage '{name}'")}: the stop dropped {bytes} bytes of queued egress{whole} "
                    + $"that could not be written within its {graceSetting} (or before a second signal)");
            }
            // What was read but never published: a subscriber (a NATS gateway waiting for the server) held the publish when the
            // grace period ran out. Before, the totals said these packets were read, and nothing said where they went.
            if (ingressDropped() is var ingress and > 0)
                JsonStderrWriter.Line(stderr, Microsoft.Extensions.Logging.LogLevel.Warning, $"{command}: {(name is null ? "the stage" : $"stage '{name}'")}: the stop dropped "
                    + $"{ingress} packet{(ingress == 1 ? "" : "s")} read from clients that {(ingress == 1 ? "was" : "were")} never published: a subscriber (with a NATS bus, the gateway "
                    + $"waiting for the server) still held an earlier one when its {graceSetting} ran out (or a second signal came)");
        }
        output.Flush();
    }
}
