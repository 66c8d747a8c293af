using System.Net;
using System.Net.Sockets;

namespace Ferry.Tests.Support;

/// <summary>
/// Loopback ports for tests that must know a port before anything listens on it (a client started
/// first, a bridge's P and P+1). They come from below Linux's ephemeral range (32768+), so no
/// outgoing connection or <c>bind(0)</c> of a parallel test can take one in between, and each is
/// handed out once per test run.
/// </summary>
internal static class FreePorts
{
    private static readonly Lock Gate = new();
    private static readonly HashSet<int> Handed = [];

    /// <summary>A port nothing listens on.</summary>
    public static int One() => Find(1);

    /// <summary>A base port P such that P and P+1 are both free.</summary>
    public static int Pair() => Find(2);

    /// <summary>
    /// A loopback socket listening on one of these ports: taken while the socket lives, and free for the test once it is
    /// disposed. Not a port the system chose (<c>bind(0)</c>): that one is in the ephemeral range, where a parallel test's
    /// outgoing connection could take it the moment it is let go, and a stage retrying its bind found it in use again.
    /// </summary>
    public static Socket Taken(out int port)
    {
        for (var attempt = 0; ; attempt++)
        {
            port = One();
            var holder = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            try
            {
                holder.Bind(new IPEndPoint(IPAddress.Loopback, port));
                holder.Listen();
                return holder;
            }
            catch (SocketException)
            {
                holder.Dispose();
                if (attempt == 20)
                    throw;
                // Another process took it since it was found free: another one.
            }
        }
    }

    private static int Find(int count)
    {
        lock (Gate)
        {
            for (int attempt = 0; attempt < 500; attempt++)
            {
                int port = Random.Shared.Next(20000, 32000);
                if (!AllFree(port, count))
                    continue;
                for (int k = 0; k < count; k++)
                    Handed.Add(port + k);
                return port;
            }
        }

        throw new InvalidOperationException($"no {count} consecutive free ports on loopback");
    }

    private static bool AllFree(int port, int count)
    {
        for (int k = 0; k < count; k++)
        {
            if (Handed.Contains(port + k) || !IsFree(port + k))
                return false;
        }

        return true;
    }

    /// <summary>
    /// Whether something listens on the loopback port (a connect is answered). After a stop that closed connections, this,
    /// not <see cref="IsFree"/>, says whether the listener is gone: a connection the stop closed first stays in TIME_WAIT on
    /// the port for a minute, and a plain bind fails while it does.
    /// </summary>
    public static bool Listens(int port)
    {
        using var probe = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            probe.Connect(new IPEndPoint(IPAddress.Loopback, port));
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }

    /// <summary>Whether a plain bind (no SO_REUSEADDR) to the loopback port succeeds right now.</summary>
    public static bool IsFree(int port)
    {
        using var probe = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            probe.Bind(new IPEndPoint(IPAddress.Loopback, port));
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }
}
