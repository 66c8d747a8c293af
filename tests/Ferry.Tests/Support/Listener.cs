using System.Net;
using System.Net.Sockets;

namespace Ferry.Tests.Support;

/// <summary>Probes of a listening address from the outside.</summary>
internal static class Listener
{
    /// <summary>Whether a connection to <paramref name="at"/> is accepted now (false once the listener is closed).</summary>
    public static bool Accepts(IPEndPoint at)
    {
        using var probe = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            probe.Connect(at);
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }
}
