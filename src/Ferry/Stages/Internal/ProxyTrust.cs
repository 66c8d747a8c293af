using System.Net;

namespace Ferry.Stages.Internal;

/// <summary>The proxies whose PROXY headers are believed: addresses and networks, matched with IPv4-mapped IPv6 seen as IPv4.</summary>
internal sealed class ProxyTrust(IReadOnlyList<string> entries)
{
    private readonly IPNetwork[] _networks = [.. entries.Select(e => TryParseNetwork(e, out var n) ? n : throw new FormatException(e))];

    public bool Trusts(IPAddress address)
    {
        if (address.IsIPv4MappedToIPv6)
            address = address.MapToIPv4();
        foreach (var network in _networks)
            if (network.Contains(address))
                return true;
        return false;
    }

    /// <summary>A CIDR network, or a single address (as a /32 or /128 network); see <see cref="NetworkText"/>.</summary>
    public static bool TryParseNetwork(string? text, out IPNetwork network) => NetworkText.TryParse(text, addressAlone: true, out network, out _);
}
