using Ferry.Bridge;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Ferry.Hosting;

/// <summary>
/// Healthy when every server stage is listening, every client stage is connected, every NATS gateway is
/// connected to its broker and every bridge end has a ready peer; unhealthy
/// naming each stage that is not (a bridge end that is stopping or stopped says so). The per-stage state is in the result's data.
/// </summary>
internal sealed class FerryHealthCheck(FerryStages stages) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var data = new Dictionary<string, object>(StringComparer.Ordinal);
        var down = new List<string>();
        foreach (var (name, server) in stages.Servers)
        {
            var local = server.LocalEndPoint;
            data[name] = local is null ? "not listening" : $"listening on {local}";
            if (local is null)
                down.Add($"server stage '{name}' is not listening");
        }
        foreach (var (name, client) in stages.Clients)
        {
            data[name] = client.IsConnected ? $"connected to {client.RemoteEndPoint}" : "not connected";
            if (!client.IsConnected)
                down.Add($"client stage '{name}' is not connected to {client.Options.Connect}");
        }
        foreach (var (name, gateway) in stages.Gateways)
        {
            var connected = gateway.Counters.Connected;
            // Connected is false too once one of the gateway's loops has ended (its subject unrouted until a restart, said in the log).
            data[$"{name}.nats"] = connected ? "broker connected" : "broker not connected, or a gateway loop ended";
            if (!connected)
                down.Add($"server stage '{name}' is not connected to NATS, or a loop of its gateway has ended (the log says which)");
        }
        foreach (var (name, bridge) in stages.Bridges)
        {
            // A stopping end is not ready whatever its peers (sends already fail): "waiting for its peer" would send whoever
            // reads this looking at the peer.
            var state = bridge is FrameBridgeEnd { IsStopping: true } end ? (end.IsStopped ? "stopped" : "stopping")
                : bridge.IsReady ? "ready" : "waiting for its peer";
            data[name] = state;
            if (state != "ready")
                down.Add(state == "waiting for its peer" ? $"bridge end '{name}' has no ready peer" : $"bridge end '{name}' is {state}");
        }
        if (data.Count == 0)
            return Task.FromResult(HealthCheckResult.Unhealthy("no Ferry stage is running", data: data));
        return Task.FromResult(down.Count == 0
            ? HealthCheckResult.Healthy($"{data.Count} stage(s) up", data)
            : HealthCheckResult.Unhealthy(string.Join("; ", down), data: data));
    }
}
