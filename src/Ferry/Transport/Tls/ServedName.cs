using System.Globalization;
using System.Net;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using Ferry.Stages;

namespace Ferry.Transport.Tls;

/// <summary>
/// A server stage's <see cref="TlsOptions.ServerName"/>: the name clients reach it by. Its certificate must carry that name
/// (checked when the stage is built, and again when the certificate's files are reloaded), and a client whose SNI asks for
/// another host is refused during the handshake, because it was never meant for this server (a misrouted client, or a
/// virtual host this stage does not serve). The names of <see cref="TlsOptions.SniCertificates"/> are served too: those
/// certificates exist for them. A client that sends no SNI (one that dials an IP address) is accepted: it names nothing.
/// </summary>
internal sealed class ServedName
{
    private readonly string _name;
    private readonly IReadOnlyCollection<string> _sniNames;

    private ServedName(string name, IReadOnlyCollection<string> sniNames)
    {
        _name = name;
        _sniNames = sniNames;
    }

    /// <summary>The stage's served name, or null when <see cref="TlsOptions.ServerName"/> is not set (any SNI name is accepted).</summary>
    public static ServedName? Of(TlsOptions options) => string.IsNullOrWhiteSpace(options.ServerName)
        ? null
        : new ServedName(Bare(options.ServerName), (options.SniCertificates?.Keys ?? []).Select(Bare).ToList());

    /// <summary>Null when a client asking for <paramref name="requested"/> (its SNI name; null or empty when it sent none) is served, else why not.</summary>
    public string? Refusal(string? requested)
    {
        // An IP address in SNI is not allowed (RFC 6066), but some clients send the address they dialled: that names no
        // host, as a client that sends nothing (certificates may carry addresses; the client checks those itself).
        if (string.IsNullOrEmpty(requested) || IPAddress.TryParse(requested.Trim(), out _))
            return null;
        var asked = Bare(requested);
        if (string.Equals(asked, _name, StringComparison.OrdinalIgnoreCase) || _sniNames.Any(n => SniKeyMatches(n, asked)))
            return null;
        var others = _sniNames.Count == 0 ? "" : $" (and {string.Join(", ", _sniNames)} in tls.sni_certificates)";
        // Begins with the words of a client stage's refusal of a server's certificate: the metrics tag it name_mismatch.
        return $"name mismatch: the client asked for '{asked}' (SNI), this server is '{_name}' (tls.server_name){others}";
    }

    /// <summary>
    /// The problem with <paramref name="certificate"/> serving <paramref name="options"/>' <see cref="TlsOptions.ServerName"/>,
    /// keyed at <c>tls.server_name</c>, or null when it carries the name (or no name is set).
    /// </summary>
    public static string? NotCovered(TlsOptions options, X509Certificate2 certificate)
        => string.IsNullOrWhiteSpace(options.ServerName) || Covers(certificate, options.ServerName)
            ? null
            : $"option 'tls.server_name': '{Bare(options.ServerName)}' is not a name of the server's certificate ({Describe(certificate)}), "
                + "so clients reaching the server by that name would refuse it; set it to a name the certificate carries, or give a certificate issued for it";

    /// <summary>
    /// Whether <paramref name="certificate"/> carries <paramref name="name"/> as a client checks it: its subject alternative
    /// names (DNS, with a wildcard standing for one whole left-most label; IP addresses exactly), its common name only when
    /// it has no alternative names at all.
    /// </summary>
    public static bool Covers(X509Certificate2 certificate, string name) => certificate.MatchesHostname(Bare(name));

    /// <summary>The certificate's subject and the names it carries, for messages.</summary>
    public static string Describe(X509Certificate2 certificate)
    {
        var names = certificate.Extensions.OfType<X509SubjectAlternativeNameExtension>()
            .SelectMany(san => san.EnumerateDnsNames().Concat(san.EnumerateIPAddresses().Select(ip => ip.ToString()))).ToList();
        return $"{certificate.Subject}; " + (names.Count == 0 ? "no subject alternative names" : "names " + string.Join(", ", names));
    }

    /// <summary>An SNI table key (<c>host</c> or <c>*.domain</c>) matches a name as the certificate choice does: exactly, or one label under the domain.</summary>
    private static bool SniKeyMatches(string key, string name)
    {
        if (string.Equals(key, name, StringComparison.OrdinalIgnoreCase))
            return true;
        var dot = name.IndexOf('.');
        return dot > 0 && key.StartsWith("*.", StringComparison.Ordinal) && string.Equals(key[1..], name[dot..], StringComparison.OrdinalIgnoreCase);
    }

    /// <summary>
    /// A name without surrounding blanks or the root's trailing dot (<c>gw.example.com.</c> is <c>gw.example.com</c>), and in
    /// its ASCII form (<c>bücher.example</c> is <c>xn--bcher-kva.example</c>): what certificates carry and what clients send,
    /// while SslStream hands the hello's name over in Unicode.
    /// </summary>
    internal static string Bare(string name)
    {
        var bare = name.Trim().TrimEnd('.');
        if (Ascii.IsValid(bare))
            return bare;
        try
        {
            return new IdnMapping().GetAscii(bare);
        }
        catch (Exception ex) when (ex is ArgumentException or PlatformNotSupportedException)
        {
            return bare; // not a name IDNA can write: compared as given, so it matches nothing
        }
    }
}
