using System.Net;
using System.Net.Sockets;
using Ferry.Transport;

namespace Ferry.Cli.Pipeline;

/// <summary>
/// A server stage's listening host checked before anything starts: an IP address, <c>localhost</c>, every interface
/// (<c>:PORT</c>) or a name that resolves. A name that does not resolve used to pass <c>ferry check</c>, end <c>ferry run</c>
/// with exit 1 (the code that asks a service manager to try again) after other stages had started, and keep
/// <c>ferry serve</c> retrying for ever; it is a mistake in what was written, so it is said with the other problems, exit 2.
/// </summary>
/// <remarks>
/// Only the resolver's definite answer (no such name, no address for it) is a problem. A resolver that fails for the moment
/// (<c>TryAgain</c>) or takes longer than <see cref="ResolveBudget"/> says nothing about the name: validation passes it,
/// and the bind, which resolves again, fails with exit 1 (<c>ferry run</c>) or retries (<c>ferry serve</c>) as for any other
/// bind that may work later.
/// </remarks>
internal static class BindHostCheck
{
    /// <summary>The longest validation waits for the resolver per name.</summary>
    internal static readonly TimeSpan ResolveBudget = TimeSpan.FromSeconds(5);

    /// <summary>
    /// Why the host of <paramref name="bind"/> cannot be listened on ("does not resolve (HostNotFound); use …"), or null when
    /// it can, may (see the remarks), or <paramref name="bind"/> is not an address at all (the stage options' check says that).
    /// </summary>
    /// <param name="bind">The address as the stage options take it: <c>host:port</c>, <c>:port</c>, <c>[ipv6]:port</c>.</param>
    /// <param name="host">The host it names, for the message of a caller that quotes the whole address.</param>
    public static string? Problem(string bind, out string host)
    {
        host = "";
        if (!BindAddress.TryParse(bind, out var address, out _))
            return null;
        host = address.Host;
        if (address.IsAnyHost || IPAddress.TryParse(host, out _) || string.Equals(host, "localhost", StringComparison.OrdinalIgnoreCase))
            return null;
        var allowed = $"use an IP address of this machine (e.g. 127.0.0.1), localhost, a name that resolves, or :{address.Port} for every interface";
        try
        {
            var lookup = Dns.GetHostAddressesAsync(host);
            if (!lookup.Wait(ResolveBudget))
                return null;
            return lookup.Result.Length == 0 ? $"does not resolve (the name has no address); {allowed}" : null;
        }
        catch (AggregateException ex) when (ex.InnerException is SocketException { SocketErrorCode: SocketError.HostNotFound or SocketError.NoData } reason)
        {
            return $"does not resolve ({reason.SocketErrorCode}); {allowed}";
        }
        catch (AggregateException ex) when (ex.InnerException is SocketException or ArgumentException)
        {
            return null;
        }
    }
}
