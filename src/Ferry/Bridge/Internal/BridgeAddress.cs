using System.Net;

namespace Ferry.Bridge.Internal;

/// <summary>Turns the Rogue-style address argument (an IP, a host name, or <c>*</c>) into IP addresses.</summary>
internal static class BridgeAddress
{
    public static IPAddress ResolveForBind(string address)
    {
        if (address is "*" or "0.0.0.0")
            return IPAddress.Any;
        if (IPAddress.TryParse(address, out IPAddress? ip))
            return ip;
        return PreferredForBind(Dns.GetHostAddresses(address)) ?? throw new ArgumentException($"cannot resolve '{address}'", nameof(address));
    }

    /// <summary>
    /// The address to listen on among those a host name resolves to: the first IPv4 one, else the first. libzmq
    /// (and so Rogue) binds and connects over IPv4 unless its sockets ask for IPv6, so a server bound to "localhost"
    /// on a resolver that lists ::1 first would refuse every Rogue client.
    /// </summary>
    public static IPAddress? PreferredForBind(IReadOnlyList<IPAddress> found)
    {
        foreach (var ip in found)
        {
            if (ip.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork)
                return ip;
        }
        return found.Count > 0 ? found[0] : null;
    }

    /// <summary><c>host:port</c> as the stages parse it (IPv6 literals in brackets).</summary>
    public static string HostPort(string host, int port) =>
        IPAddress.TryParse(host, out IPAddress? ip) && ip.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 ? $"[{ip}]:{port}" : $"{host}:{port}";

    public static string HostPort(IPAddress ip, int port) => HostPort(ip.ToString(), port);

    public static void ValidatePort(int port)
    {
        // The bridge uses P and P+1, so P+1 must be a port too; 0 cannot name a fixed pair.
        if (port is < 1 or > IPEndPoint.MaxPort - 1)
            throw new ArgumentOutOfRangeException(nameof(port), port, "the base port must be 1..65534 (the bridge uses port and port + 1)");
    }
}
