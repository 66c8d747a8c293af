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
    private Lifetime _lifetime;

    /// <summary>Where the host is with its stages, so that a look-up that finds nothing says why.</summary>
    private enum Lifetime
    {
        NotStarted,
        Starting,
        Running,
        Stopped,
    }

    /// <summary>The NATS gateways by the name of the server stage they connect (with a <c>nats</c> bus).</summary>
    public IReadOnlyDictionary<string, NatsGateway> Gateways => _gateways;

    /// <summary>The frame bridge ends by name.</summary>
    public IReadOnlyDictionary<string, IFrameBridge> Bridges => _bridges;

    /// <summary>The server stages by name.</summary>
    public IReadOnlyDictionary<string, TcpServerStage> Servers => _servers;

    /// <summary>The client stages by name.</summary>
    public IReadOnlyDictionary<string, TcpClientStage> Clients => _clients;

    /// <summary>The server stage named <paramref name="name"/>.</summary>
    /// <exception cref="KeyNotFoundException">
    /// No server stage has that name (the message lists those that exist), or the host has not started its stages yet or has stopped them (the message says so).
    /// </exception>
    public TcpServerStage GetServer(string name) => _servers.TryGetValue(name, out var stage) ? stage : throw Missing("server", name, _servers.Keys);

    /// <summary>The client stage named <paramref name="name"/>.</summary>
    /// <exception cref="KeyNotFoundException">
    /// No client stage has that name (the message lists those that exist), or the host has not started its stages yet or has stopped them (the message says so).
    /// </exception>
    public TcpClientStage GetClient(string name) => _clients.TryGetValue(name, out var stage) ? stage : throw Missing("client", name, _clients.Keys);

    private KeyNotFoundException Missing(string kind, string name, IEnumerable<string> names) => new(_lifetime switch
    {
        Lifetime.NotStarted => $"no {kind} stage named '{name}' yet: the host has not started its stages (they are built when it starts; "
            + $"to set a stage up before it starts, use services.ConfigureTcp{(kind == "server" ? "Server" : "Client")}Stage(\"{name}\", …))",
        Lifetime.Stopped => $"no {kind} stage named '{name}': the host has stopped its stages",
        Lifetime.Starting => $"no {kind} stage named '{name}' yet: the host is starting its stages ({kind} stages so far: {string.Join(", ", names)})",
        _ => $"no {kind} stage named '{name}' ({kind} stages: {string.Join(", ", names)})",
    });

    internal void Starting() => _lifetime = Lifetime.Starting;

    internal void Started() => _lifetime = Lifetime.Running;

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
        _lifetime = Lifetime.Stopped;
    }
}
