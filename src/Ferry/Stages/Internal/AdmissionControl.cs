using System.Net;
using Ferry.Connections;

namespace Ferry.Stages.Internal;

/// <summary>
/// Per-address admission at accept, before any byte is read (seed 002's connection throttler): allow
/// and deny lists of networks, a limit of connections per address, a connection rate per address (N per
/// window, fixed windows on the stage clock) and the library's accept filter. Service thread.
/// </summary>
internal sealed class AdmissionControl
{
    private readonly IPNetwork[] _allow;
    private readonly IPNetwork[] _deny;
    private readonly int _maxPerIp;
    private readonly int _ratePerIp;
    private readonly long _windowMs;
    private readonly Func<AcceptContext, bool>? _filter;
    private readonly StageClock _clock;
    private readonly EventSink _events;
    private readonly Dictionary<IPAddress, int> _live = [];
    private readonly ConnectionRateTable? _rates;

    public AdmissionControl(TcpServerStageOptions options, EventSink events)
    {
        _allow = [.. (options.AllowFrom ?? []).Select(Network)];
        _deny = [.. (options.DenyFrom ?? []).Select(Network)];
        _maxPerIp = options.MaxConnectionsPerIp;
        _ratePerIp = options.ConnectionRatePerIp;
        _windowMs = Math.Max(1, (long)options.ConnectionRateWindow.TotalMilliseconds);
        _filter = options.AcceptFilter;
        _clock = events.Clock;
        _events = events;
        if (_ratePerIp > 0)
            _rates = new ConnectionRateTable(_ratePerIp, _windowMs);
    }

    /// <summary>One allow/deny entry; the options were validated, so it reads.</summary>
    private static IPNetwork Network(string text)
        => NetworkText.TryParse(text, addressAlone: false, out var network, out var problem) ? network : throw new FormatException($"'{text}' {problem}");

    /// <summary>Whether anything is checked at all (the common case pays one branch).</summary>
    public bool Active => _allow.Length > 0 || _deny.Length > 0 || _maxPerIp > 0 || _ratePerIp > 0 || _filter is not null;

    /// <summary>Whether <paramref name="peer"/>'s address has as many connections open as max_connections_per_ip allows.</summary>
    public bool AtAddressLimit(IPEndPoint peer)
        => _maxPerIp > 0 && _live.GetValueOrDefault(Normal(peer.Address)) >= _maxPerIp;

    /// <summary>Null when the connection may be taken, else why not.</summary>
    public (DisconnectReason Reason, string Detail)? Check(IPEndPoint peer, IPEndPoint local)
    {
        var address = Normal(peer.Address);
        if (_allow.Length > 0 && !_allow.Any(n => n.Contains(address)))
            return (DisconnectReason.Denied, $"{address} is not in allow_from");
        foreach (var network in _deny)
            if (network.Contains(address))
                return (DisconnectReason.Denied, $"{address} is in deny_from {network}");
        var live = _live.GetValueOrDefault(address);
        if (_maxPerIp > 0 && live >= _maxPerIp)
            return (DisconnectReason.IpLimit, $"max_connections_per_ip {_maxPerIp} reached for {address}");
        if (_ratePerIp > 0 && !WithinRate(address))
            return (DisconnectReason.IpLimit, $"connection_rate_per_ip {_ratePerIp} per {_windowMs} ms exceeded by {address}");
        if (_filter is not null)
            return Filter(new AcceptContext(peer, local, live));
        return null;
    }

    /// <summary>
    /// The user's accept filter: null when it takes the connection, else the refusal. A filter that throws
    /// costs that connection alone: it is refused (reason <c>denied</c>, the detail naming the exception),
    /// the failure is reported (an <c>Error</c> event of kind <c>Handler</c>) and the stage goes on.
    /// </summary>
    private (DisconnectReason Reason, string Detail)? Filter(AcceptContext context)
    {
        try
        {
            return _filter!(context) ? null : (DisconnectReason.Denied, "refused by the accept filter");
        }
        catch (Exception ex)
        {
            var why = $"the accept filter threw {ex.GetType().Name}: {ex.Message}";
            // A filter that throws for every client of a connection storm must not flood the log.
            if (_events.MayWarn(WarningKind.HandlerFailed))
                Log.HandlerFailed(_events.Logger, _events.Stage, "accept filter", ex);
            _events.RaiseError(StageErrorKind.Handler, $"{why} (connection from {context.Peer} refused)", logAs: WarningKind.HandlerFailed);
            return (DisconnectReason.Denied, why);
        }
    }

    /// <summary>Counts the attempt in the address's window: O(1) amortised however many addresses there are.</summary>
    private bool WithinRate(IPAddress address) => _rates!.TryAdmit(address, _clock.NowMs);

    public void Opened(Connection c)
    {
        if (_maxPerIp > 0 || _filter is not null)
        {
            c.AdmissionCounted = true;
            var address = Normal(c.Peer.Address);
            _live[address] = _live.GetValueOrDefault(address) + 1;
        }
    }

    public void Closed(Connection c)
    {
        // Only what Opened counted: a proxied connection refused at its header, or a proxy's health check, was never counted.
        if (!c.AdmissionCounted)
            return;
        var address = Normal(c.Peer.Address);
        if (_live.TryGetValue(address, out var n))
        {
            if (n <= 1)
                _live.Remove(address);
            else
                _live[address] = n - 1;
        }
    }

    /// <summary>IPv4 clients of a dual-mode listener arrive as ::ffff:a.b.c.d; they are counted and matched as IPv4.</summary>
    private static IPAddress Normal(IPAddress address) => address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address;
}
