using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace Ferry.Stages.Internal;

/// <summary>
/// Networks as an operator writes them (<c>trusted_proxies</c>, <c>allow_from</c>, <c>deny_from</c>), read
/// strictly. <see cref="IPNetwork.TryParse(string, out IPNetwork)"/> clears the bits set after the prefix
/// since .NET 10, so <c>10.0.0.1/8</c> would silently trust or admit all of 10.0.0.0/8: most likely a slip
/// for the one address or for another prefix, and one that widens a security boundary. It is refused here,
/// naming the network it would have been.
/// </summary>
internal static class NetworkText
{
    /// <summary>
    /// Reads <c>address/prefix</c>, or with <paramref name="addressAlone"/> also a single address (as a /32
    /// or /128; an IPv4-mapped IPv6 address is taken as IPv4). When false, <paramref name="problem"/>
    /// completes "'text' …": what is wrong and what is allowed.
    /// </summary>
    public static bool TryParse(string? text, bool addressAlone, out IPNetwork network, out string problem)
    {
        network = default;
        var usage = addressAlone
            ? "is not an address or network; use e.g. 10.0.0.5, 10.0.0.0/8 or 2001:db8::/32"
            : "is not a network; use CIDR like 10.0.0.0/8 or 2001:db8::/32";
        problem = usage;
        if (string.IsNullOrWhiteSpace(text))
            return false;
        text = text.Trim();
        var slash = text.IndexOf('/');
        if (slash < 0 && !addressAlone)
            return false;
        var addressText = slash < 0 ? text : text[..slash];
        // A scope id (fe80::1%eth0) names an interface, not a network.
        if (addressText.Contains('%') || !IPAddress.TryParse(addressText, out var address))
            return false;
        if (slash < 0 && address.IsIPv4MappedToIPv6)
            address = address.MapToIPv4();
        var bits = address.AddressFamily == AddressFamily.InterNetwork ? 32 : 128;
        var prefix = bits;
        if (slash >= 0 && (!int.TryParse(text.AsSpan(slash + 1), NumberStyles.None, CultureInfo.InvariantCulture, out prefix) || prefix > bits))
            return false;
        var first = FirstAddress(address, prefix);
        if (!first.Equals(address))
        {
            var one = addressAlone ? addressText : $"{addressText}/{bits}";
            problem = $"has bits set after its /{prefix} prefix; write the network as {first}/{prefix}, or {one} for that one address";
            return false;
        }
        network = new IPNetwork(address, prefix);
        problem = "";
        return true;
    }

    /// <summary>The address with every bit after <paramref name="prefix"/> cleared: the network's first address.</summary>
    private static IPAddress FirstAddress(IPAddress address, int prefix)
    {
        var bytes = address.GetAddressBytes();
        for (var i = 0; i < bytes.Length; i++)
        {
            var keep = Math.Clamp(prefix - i * 8, 0, 8);
            bytes[i] &= (byte)(0xFF << (8 - keep));
        }
        return new IPAddress(bytes);
    }
}
