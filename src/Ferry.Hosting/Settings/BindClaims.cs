using System.Globalization;

namespace Ferry.Hosting.Settings;

/// <summary>
/// The listening addresses stages claim (server stages' <c>bind</c>, a bridge server's PORT and PORT+1), so that
/// two stages given the same address are refused by <c>ferry check</c> (and a Generic Host's validation) instead
/// of the second failing to bind at start, after the first had started. An address on all interfaces (<c>:9000</c>, <c>0.0.0.0</c>, <c>[::]</c>)
/// overlaps every address with its port. Port 0 (any free port) never collides. Host names are compared
/// as written: <c>localhost</c> and <c>127.0.0.1</c> are not known to be the same here. The Prometheus scrape
/// endpoint (<c>telemetry.prometheus.listen</c>) is checked against the stages' addresses too: it binds before any
/// stage starts, so a stage given its address would fail only in <c>ferry run</c>.
/// </summary>
internal sealed class BindClaims
{
    private readonly List<(string Host, int Port, string Stage, string Where)> _claims = [];

    /// <summary>
    /// Records the addresses <paramref name="stage"/> listens on; when one is already claimed, nothing is recorded and the
    /// problem is returned (without a location: "listens on …, which stage 'a' (where) already listens on; …").
    /// </summary>
    /// <param name="stage">The stage.</param>
    /// <param name="where">Where the stage's address was written, named to the stage that claims it later.</param>
    public string? Claim(StageDeclaration stage, string where)
    {
        var wanted = stage switch
        {
            ServerStageDeclaration server => Parse(server.Options.Bind) is { } one ? [one] : [],
            BridgeStageDeclaration { IsServer: true } bridge => [(Host(bridge.Address), bridge.Port), (Host(bridge.Address), bridge.Port + 1)],
            _ => Array.Empty<(string, int)>(),
        };
        foreach (var (host, port) in wanted)
        {
            if (port == 0)
                continue;
            foreach (var claim in _claims)
            {
                if (claim.Port != port || (claim.Host != host && claim.Host != "" && host != ""))
                    continue;
                return $"listens on {Show(host, port)}, which stage '{claim.Stage}' ({claim.Where}) already listens on{(claim.Host == host ? "" : $" ({Show(claim.Host, claim.Port)})")}; give each stage its own port";
            }
        }
        foreach (var (host, port) in wanted)
            _claims.Add((host, port, stage.Name, where));
        return null;
    }

    /// <summary>
    /// The scrape endpoint's address (already valid: an IP address and a port above 0), checked against every stage's;
    /// a clash is reported at <paramref name="where"/>, the <c>listen</c> key.
    /// </summary>
    public void ClaimScrape(string listen, ISettingNode where, List<SettingProblem> problems)
    {
        if (Parse(listen) is not { } address)
            return;
        var (host, port) = address;
        foreach (var claim in _claims)
        {
            if (claim.Port != port || (claim.Host != host && claim.Host != "" && host != ""))
                continue;
            problems.Add(new SettingProblem(where.Where, where.Path, where.Value,
                $"is where stage '{claim.Stage}' ({claim.Where}) listens{(claim.Host == host ? "" : $" ({Show(claim.Host, claim.Port)})")}; give the scrape endpoint a port of its own"));
            return;
        }
    }

    /// <summary><c>host:port</c>, <c>:port</c> or <c>[ipv6]:port</c> as the stage options take it; null when it is not one (the options' validation reports that).</summary>
    private static (string Host, int Port)? Parse(string bind)
    {
        var colon = bind.LastIndexOf(':');
        if (colon < 0 || !int.TryParse(bind.AsSpan(colon + 1), NumberStyles.None, CultureInfo.InvariantCulture, out var port))
            return null;
        return (Host(bind[..colon]), port);
    }

    /// <summary>The host, lower case and without brackets; "" for every interface.</summary>
    private static string Host(string host)
    {
        host = host.Trim().TrimStart('[').TrimEnd(']').ToLowerInvariant();
        return host is "" or "*" or "0.0.0.0" or "::" ? "" : host;
    }

    private static string Show(string host, int port) => host == "" ? $"all interfaces, port {port}" : host.Contains(':') ? $"[{host}]:{port}" : $"{host}:{port}";
}
