using System.Net;

namespace Ferry.Stages.Internal;

/// <summary>
/// A TLS server name (<c>server_name</c>, <c>--tls-server-name</c>): on a client stage the name checked in the server's
/// certificate, on a server stage the name clients reach it by. Either way a DNS name or an IP address: anything else
/// ("gw example.com", "localhost,127.0.0.1") matches no certificate, so every connection would fail its handshake with a
/// name mismatch; it is refused where it is written instead. Here in the library so that <see cref="TlsOptions"/> checks it
/// as the run files' reader and the command line do.
/// </summary>
internal static class HostNameText
{
    /// <summary>What is allowed, for messages.</summary>
    public const string Allowed = "give the DNS name (or IP address) the server's certificate carries, e.g. gw.example.com";

    /// <summary>True for an IP address or a DNS name of at most 253 characters.</summary>
    public static bool IsValid(string name) => IPAddress.TryParse(name, out _) || IsDnsName(name);

    /// <summary>True for a DNS name of at most 253 characters (not an IP address).</summary>
    public static bool IsDnsName(string name) => name.Length <= 253 && Uri.CheckHostName(name) == UriHostNameType.Dns;
}
