using Ferry.Bridge;
using Ferry.Nats;
using Ferry.Stages;

namespace Ferry.Hosting;

/// <summary>The stages the host runs, by name, once it has started them (inject it to send, subscribe or inspect).</summary>
public sealed class FerryStages
{
    private readonly Dictionary<string, TcpServerStage> _servers = new(StringComparer.Ordinal);
    private readonly Dictionary<string, TcpClientStage> _clients = new(StringComparer.Ordinal);
    private readonly Dictionary<string, IFrameBridge> _bridges = new(StringComparer.Ordinal);
    private readonly Dictionary<string, NatsGateway> _gateways = new(StringComparer.Ordinal);

    /// <summary>The NATS gateways by the name of the server stage they connect (with a <c>nats</c> bus).</summary>
    public IReadOnlyDictionary<string, NatsGateway> Gateways => _gateways;

    /// <summary>The frame bridge ends by name.</summary>
    public IReadOnlyDictionary<string, IFrameBridge> Bridges => _bridges;

    /// <summary>The server stages by name.</summary>
    public IReadOnlyDictionary<string, TcpServerStage> Servers => _servers;

    /// <summary>The client stages by name.</summary>
    public IReadOnlyDictionary<string, TcpClientStage> Clients => _clients;

    /// <summary>The server stage named <paramref name="name"/>.</summary>
    /// <exception cref="KeyNotFoundException">No server stage has that name (the message lists those that exist).</exception>
    public TcpServerStage GetServer(string name) => _servers.TryGetValue(name, out var stage)
        ? stage
        : throw new KeyNotFoundException($"no server stage named '{name}' (server stages: {string.Join(", ", _servers.Keys)})");

    /// <summary>The client stage named <paramref name="name"/>.</summary>
    /// <exception cref="KeyNotFoundException">No client stage has that name (the message lists those that exist).</exception>
    public TcpClientStage GetClient(string name) => _clients.TryGetValue(name, out var stage)
        ? stage
        : throw new KeyNotFoundException($"no client stage named '{name}' (client stages: {string.Join(", ", _clients.Keys)})");

    internal void Add(TcpServerStage stage) => _servers.Add(stage.Name, stage);

    internal void Add(TcpClientStage stage) => _clients.Add(stage.Name, stage);

    internal void Add(string name, IFrameBridge bridge) => _bridges.Add(name, bridge);

    internal void Add(string name, NatsGateway gateway) => _gateways.Add(name, gateway);

    internal void Clear()
    {
        _servers.Clear();
        _clients.Clear();
        _bridges.Clear();
        _gateways.Clear();
    }
}
