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
        IPAddress[] found = Dns.GetHostAddresses(address);
        return found.Length > 0 ? found[0] : throw new ArgumentException($"cannot resolve '{address}'", nameof(address));
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
