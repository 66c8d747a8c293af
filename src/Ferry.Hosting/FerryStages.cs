using Ferry.Bridge;
using Ferry.Nats;
using Ferry.Stages;

namespace Ferry.Hosting;

/// <summary>
/// The stages the host runs, by name, once it has started them (inject it to send, subscribe or inspect). Safe to read
/// from any thread: each dictionary it returns is a snapshot that the host's start and stop replace, never change.
/// </summary>
public sealed class FerryStages
{
    // Copy on write (a new dictionary per change, which keeps the order of declaration): the host adds at its start and clears at its stop while health probes and the application read
    // from other threads; a reader holds a snapshot, which no later change touches.
    private readonly Lock _gate = new();
    private volatile Dictionary<string, TcpServerStage> _servers = new(StringComparer.Ordinal);
    private volatile Dictionary<string, TcpClientStage> _clients = new(StringComparer.Ordinal);
    private volatile Dictionary<string, IFrameBridge> _bridges = new(StringComparer.Ordinal);
    private volatile Dictionary<string, NatsGateway> _gateways = new(StringComparer.Ordinal);
    private volatile Lifetime _lifetime;

    /// <summary>
    /// Only the host creates it (<c>AddFerry</c> registers one per service provider, filled by the host's start): an instance
    /// made elsewhere would never hold a stage, and every look-up in it would say the host had not started.
    /// </summary>
    internal FerryStages()
    {
    }

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
    public TcpServerStage GetServer(string name)
    {
        var servers = _servers;
        return servers.TryGetValue(name, out var stage) ? stage : throw Missing("server", name, servers.Keys);
    }

    /// <summary>The client stage named <paramref name="name"/>.</summary>
    /// <exception cref="KeyNotFoundException">
    /// No client stage has that name (the message lists those that exist), or the host has not started its stages yet or has stopped them (the message says so).
    /// </exception>
    public TcpClientStage GetClient(string name)
    {
        var clients = _clients;
        return clients.TryGetValue(name, out var stage) ? stage : throw Missing("client", name, clients.Keys);
    }

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

    internal void Add(TcpServerStage stage)
    {
        lock (_gate)
            _servers = With(_servers, stage.Name, stage);
    }

    internal void Add(TcpClientStage stage)
    {
        lock (_gate)
            _clients = With(_clients, stage.Name, stage);
    }

    internal void Add(string name, IFrameBridge bridge)
    {
        lock (_gate)
            _bridges = With(_bridges, name, bridge);
    }

    internal void Add(string name, NatsGateway gateway)
    {
        lock (_gate)
            _gateways = With(_gateways, name, gateway);
    }

    /// <summary>A copy of <paramref name="current"/> with one more entry (a name taken twice throws, as <see cref="Dictionary{TKey,TValue}.Add"/> does).</summary>
    private static Dictionary<string, T> With<T>(Dictionary<string, T> current, string name, T value)
    {
        var next = new Dictionary<string, T>(current, StringComparer.Ordinal);
        next.Add(name, value);
        return next;
    }

    internal void Clear()
    {
        lock (_gate)
        {
            _servers = new(StringComparer.Ordinal);
            _clients = new(StringComparer.Ordinal);
            _bridges = new(StringComparer.Ordinal);
            _gateways = new(StringComparer.Ordinal);
            _lifetime = Lifetime.Stopped;
        }
    }
}
