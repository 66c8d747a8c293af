using System.Globalization;
using System.Net;

namespace Ferry.Transport;

/// <summary>
/// A listen or dial address as users write it: <c>host:port</c>, <c>:port</c> (all interfaces),
/// <c>[::1]:port</c>. Port 0 asks the kernel for a free port when binding.
/// </summary>
internal sealed record BindAddress(string Host, int Port)
{
    /// <summary>Empty host: every interface (IPv6 dual-mode when the machine has IPv6).</summary>
    public bool IsAnyHost => Host.Length == 0;

    public static BindAddress Parse(string text, string optionName = "bind")
    {
        if (!TryParse(text, out var address, out var problem))
            throw new ArgumentException($"option '{optionName}': '{text}' is not a valid address ({problem}); use host:port, :port or [ipv6]:port with a port from 0 to 65535");
        return address;
    }

    public static bool TryParse(string? text, out BindAddress address, out string problem)
    {
        address = null!;
        if (string.IsNullOrWhiteSpace(text))
        {
            problem = "empty";
            return false;
        }
        text = text.Trim();
        string host;
        string portText;
        if (text.StartsWith('['))
        {
            var close = text.IndexOf(']');
            if (close < 0 || close + 1 >= text.Length || text[close + 1] != ':')
            {
                problem = "an IPv6 address must be written [addr]:port";
                return false;
            }
            host = text[1..close];
            portText = text[(close + 2)..];
            if (!IPAddress.TryParse(host, out var ip) || ip.AddressFamily != System.Net.Sockets.AddressFamily.InterNetworkV6)
            {
                problem = $"'{host}' is not an IPv6 address";
                return false;
            }
        }
        else
        {
            var colon = text.LastIndexOf(':');
            if (colon < 0)
            {
                problem = "no port";
                return false;
            }
            host = text[..colon];
            portText = text[(colon + 1)..];
            if (host.Contains(':'))
            {
                problem = "an IPv6 address must be written in brackets";
                return false;
            }
        }
        if (!int.TryParse(portText, NumberStyles.None, CultureInfo.InvariantCulture, out var port) || port > 65535)
        {
            problem = $"port '{portText}' is not a number from 0 to 65535";
            return false;
        }
        if (host == "*")
            host = "";
        address = new BindAddress(host, port);
        problem = "";
        return true;
    }

    public override string ToString() => Format(Host, Port);

    internal static string Format(string host, int port) =>
        host.Contains(':') ? $"[{host}]:{port}" : $"{host}:{port}";
}
