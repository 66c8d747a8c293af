using System.Net.Sockets;

namespace Ferry.Transport;

/// <summary>Why a listening socket could not be bound, in words that send the operator the right way.</summary>
internal static class BindFailureWords
{
    /// <summary>
    /// The cause behind <paramref name="error"/> for an address whose host is <paramref name="host"/>: a port in use, an address
    /// that is not this machine's, a privileged port. "Another process may be using this port" was said of all of them.
    /// </summary>
    public static string Why(SocketError error, string host) => error switch
    {
        SocketError.AddressNotAvailable => "the address is not one of this machine's",
        SocketError.AddressAlreadyInUse => "another process listens on that port",
        SocketError.AccessDenied => "permission denied: a port below 1024 needs root or CAP_NET_BIND_SERVICE",
        SocketError.HostNotFound or SocketError.TryAgain or SocketError.NoData => $"the name '{host}' does not resolve",
        _ => "the stage's bind would fail the same way",
    };
}
