using System.Net.Sockets;
using Ferry.Bridge.Internal;
using Ferry.Hosting.Settings;
using Ferry.Transport;

namespace Ferry.Cli.Pipeline;

/// <summary>
/// Before any stage of <c>ferry run</c> starts, every address a stage would give up on at its first failed bind (a server
/// stage with <c>bind_attempts: 1</c>, the default in a file; both ports of a <c>bridge_server</c>) is bound and let go: an
/// address that is not this machine's, a port another process listens on or one below 1024 without the right stops the run
/// with every such stage named, and nothing serves meanwhile. Before, the stages before it started (the first of them
/// listening, taking clients) and were stopped again: a half-start a supervisor sees as a flapping service. A stage that
/// retries its bind (<c>bind_attempts</c> 0 or above 1) is left to its retries: its address may come later (a floating IP).
/// </summary>
internal static class BindPreflight
{
    /// <summary>One address that cannot be had: the stage, how run names it, and what the stage's own bind error would say.</summary>
    /// <param name="Stage">The stage's name.</param>
    /// <param name="Who">The stage as run's stderr line names it (a bridge with its role).</param>
    /// <param name="Message">"cannot listen on ADDRESS: ERROR: why", as the stage's bind error.</param>
    /// <param name="IsServerStage">A server stage, which prints its own bind errors on stdout; a bridge's inner stages do not.</param>
    public sealed record Problem(string Stage, string Who, string Message, bool IsServerStage)
    {
        public override string ToString() => $"{Who} {Message}";
    }

    /// <summary>What cannot be had, one entry per stage and address, in file order; empty when every address can be bound.</summary>
    public static List<Problem> Problems(PipelineDefinition pipeline)
    {
        var problems = new List<Problem>();
        foreach (var declaration in pipeline.Stages)
        {
            switch (declaration)
            {
                case ServerStageDeclaration { Options.BindAttempts: 1 } server:
                    Probe(problems, server.Name, $"stage '{server.Name}'", server.Options.Bind, isServerStage: true);
                    break;
                case BridgeStageDeclaration { IsServer: true } bridge:
                    var host = bridge.Address is "*" ? "0.0.0.0" : bridge.Address; // every interface, as the bridge reads it
                    Probe(problems, bridge.Name, $"stage '{bridge.Name}' (bridge_server, PULL)", BridgeAddress.HostPort(host, bridge.Port), isServerStage: false);
                    Probe(problems, bridge.Name, $"stage '{bridge.Name}' (bridge_server, PUSH)", BridgeAddress.HostPort(host, bridge.Port + 1), isServerStage: false);
                    break;
            }
        }
        return problems;
    }

    private static void Probe(List<Problem> problems, string stage, string who, string bind, bool isServerStage)
    {
        if (!BindAddress.TryParse(bind, out var address, out _) || address.Port == 0)
            return; // a port the kernel picks is always there; a bad address was refused by the file's checks
        try
        {
            ListenSocket.Probe(address);
        }
        catch (SocketException ex)
        {
            var why = BindFailureWords.Why(ex.SocketErrorCode, address.Host);
            problems.Add(new Problem(stage, who, $"cannot listen on {address}: {ex.SocketErrorCode}: {ex.Message} ({why})", isServerStage));
        }
        catch (IOException ex)
        {
            problems.Add(new Problem(stage, who, $"cannot listen on {address}: {ex.Message}", isServerStage));
        }
    }
}
