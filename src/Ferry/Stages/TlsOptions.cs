using System.Security.Authentication;
using System.Text;

namespace Ferry.Stages;

/// <summary>Whether a TLS server asks clients for a certificate (mutual TLS).</summary>
public enum ClientCertificateMode
{
    /// <summary>No client certificate is asked for.</summary>
    None,
    /// <summary>A client certificate is asked for; one that is sent must be valid, none is also accepted.</summary>
    Optional,
    /// <summary>A valid client certificate is required; the handshake fails without one.</summary>
    Required,
}

/// <summary>A certificate and its private key, as PEM text or as paths to PEM files (the certificate file may hold the chain).</summary>
public sealed record TlsCertificate
{
    /// <summary>The certificate (and optionally its chain) as PEM text (<c>certificate_pem</c>).</summary>
    public string? CertificatePem { get; init; }

    /// <summary>The private key as PEM text (<c>private_key_pem</c>).</summary>
    public string? PrivateKeyPem { get; init; }

    /// <summary>A PEM file with the certificate (and optionally its chain), instead of <see cref="CertificatePem"/>.</summary>
    public string? CertificateFile { get; init; }

    /// <summary>A PEM file with the private key, instead of <see cref="PrivateKeyPem"/>.</summary>
    public string? PrivateKeyFile { get; init; }

    /// <summary>A PKCS#12 (.pfx/.p12) file with the certificate, its key and chain, instead of the PEM options.</summary>
    public string? Pkcs12File { get; init; }

    /// <summary>The password of <see cref="Pkcs12File"/>; null for none.</summary>
    public string? Pkcs12Password { get; init; }

    /// <summary>
    /// What the record's <c>ToString</c> prints: every member as the compiler would, but the private key's PEM and the PKCS#12
    /// password as <c>&lt;redacted&gt;</c> when set. Options are logged, printed in test failures and shown in debuggers;
    /// the generated printer would put the key there in clear. The certificate and the paths are no secret and stay.
    /// </summary>
    private bool PrintMembers(StringBuilder builder)
    {
        builder.Append("CertificatePem = ").Append(CertificatePem);
        builder.Append(", PrivateKeyPem = ").Append(Redacted(PrivateKeyPem));
        builder.Append(", CertificateFile = ").Append(CertificateFile);
        builder.Append(", PrivateKeyFile = ").Append(PrivateKeyFile);
        builder.Append(", Pkcs12File = ").Append(Pkcs12File);
        builder.Append(", Pkcs12Password = ").Append(Redacted(Pkcs12Password));
        return true;
    }

    /// <summary>A secret as printed: that it is set, never what it is (an empty password is a password too).</summary>
    private static string Redacted(string? secret) => secret is null ? "null" : "<redacted>";

    internal void Validate(List<string> problems, string option)
    {
        if (Pkcs12File is not null)
        {
            if (CertificatePem is not null || CertificateFile is not null || PrivateKeyPem is not null || PrivateKeyFile is not null)
                problems.Add($"option '{option}': give a {StageOptionsException.Mark("pkcs12_file")} or PEM certificate and key, not both");
            return;
        }
        if ((CertificatePem is null) == (CertificateFile is null))
            problems.Add($"option '{option}': give the certificate as {StageOptionsException.Mark("certificate_pem")} or {StageOptionsException.Mark("certificate_file")} (one of them)");
        if ((PrivateKeyPem is null) == (PrivateKeyFile is null))
            problems.Add($"option '{option}': give the private key as {StageOptionsException.Mark("private_key_pem")} or {StageOptionsException.Mark("private_key_file")} (one of them)");
    }
}

/// <summary>
/// TLS settings of a stage, named after seed 004's <c>TlsConfig</c> (<c>secure</c>, <c>certificate</c>,
/// <c>ca_certificate_pem</c>, <c>server_name</c>, <c>accept_invalid_certificates</c>) plus mutual TLS and a
/// handshake deadline. Client stages run TLS on the stream transport; server stages on it or on epoll (OpenSSL).
/// </summary>
public sealed record TlsOptions
{
    /// <summary>
    /// Whether connections are TLS (<c>secure</c>). When false the stage serves plain TCP, and any other TLS option
    /// given (a certificate, a CA, client certificates, a server name, …) is an options error rather than ignored.
    /// </summary>
    public bool Secure { get; init; }

    /// <summary>The stage's own certificate: required on a server, the client certificate on a client stage (optional).</summary>
    public TlsCertificate? Certificate { get; init; }

    /// <summary>CA certificates (PEM) that peers' certificates must chain to, instead of the system's trust store.</summary>
    public string? CaCertificatePem { get; init; }

    /// <summary>A PEM file of CA certificates, instead of <see cref="CaCertificatePem"/>.</summary>
    public string? CaCertificateFile { get; init; }

    /// <summary>
    /// Server stage, mutual TLS: a certificate revocation list (PEM, <c>-----BEGIN X509 CRL-----</c>) signed by
    /// a CA of the bundle; a client certificate it lists is refused with the detail <c>revoked</c> (<c>ferry cert crl</c> makes one).
    /// </summary>
    public string? CertificateRevocationListPem { get; init; }

    /// <summary>
    /// A PEM file holding the CRL, instead of <see cref="CertificateRevocationListPem"/>; read when the stage is built and again
    /// when its contents change (looked at most once a second). A list past its nextUpdate refuses its issuer's client certificates.
    /// </summary>
    public string? CertificateRevocationListFile { get; init; }

    /// <summary>
    /// The TLS server name (<c>server_name</c>), a DNS name or an IP address. Client stage: the name sent as SNI and checked
    /// against the server's certificate; the host of <c>connect</c> by default. Server stage: the name clients reach the
    /// server by. Its certificate (<see cref="Certificate"/>) must carry it (a subject alternative name, a wildcard covering
    /// one label), or building the stage fails with the certificate's names (a reloaded certificate that does not carry it is
    /// kept out, as a broken one is); a client whose SNI asks for another name is refused during the handshake (disconnect
    /// reason <c>tls_error</c>, detail <c>name mismatch: the client asked for '…' (SNI), this server is '…' (tls.server_name)</c>;
    /// on epoll the client gets an <c>unrecognized_name</c> alert). The names of <see cref="SniCertificates"/> are served too,
    /// and a client that sends no SNI (one that dials an IP address) is accepted. Null (the default): any name is served.
    /// </summary>
    public string? ServerName { get; init; }

    /// <summary>
    /// Development only, logged as a warning at start. Client stage: accept any server certificate. Server stage, with
    /// <see cref="ClientCertificate"/> optional or required (an options error without): accept a client certificate that
    /// fails the chain or validity checks (self-signed, from another CA, expired, not yet valid) and report it in
    /// <see cref="TlsConnectionInfo"/> as any other; a required certificate must still be sent, and one the CRL
    /// (<see cref="CertificateRevocationListPem"/>) lists is still refused as <c>revoked</c>. No CA bundle is needed then.
    /// </summary>
    public bool AcceptInvalidCertificates { get; init; }

    /// <summary>Server stage: whether clients must present a certificate (mutual TLS).</summary>
    public ClientCertificateMode ClientCertificate { get; init; } = ClientCertificateMode.None;

    /// <summary>A connection whose handshake has not finished by then is closed with reason <c>tls_handshake_timeout</c>.</summary>
    public TimeSpan HandshakeTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// Server stage: certificates chosen by the SNI name a client asks for (<c>host</c> or <c>*.domain</c>);
    /// <see cref="Certificate"/> serves every other name and clients that send none.
    /// </summary>
    public IReadOnlyDictionary<string, TlsCertificate>? SniCertificates { get; init; }

    /// <summary>ALPN protocol names offered (client) or accepted in order of preference (server), e.g. <c>h2</c>; none by default.</summary>
    public IReadOnlyList<string>? ApplicationProtocols { get; init; }

    /// <summary>The TLS versions allowed: 1.2 and 1.3 by default.</summary>
    public SslProtocols Protocols { get; init; } = SslProtocols.Tls12 | SslProtocols.Tls13;

    /// <summary>A copy whose lists are its own (see <c>TcpServerStageOptions.Snapshot</c>).</summary>
    internal TlsOptions Snapshot() => this with
    {
        ApplicationProtocols = ApplicationProtocols?.ToArray(),
        SniCertificates = SniCertificates is null ? null : new Dictionary<string, TlsCertificate>(SniCertificates, StringComparer.Ordinal),
    };

    internal void Validate(List<string> problems, bool server)
    {
        if (!Secure)
        {
            // Settings that only mean something with TLS on, given with Secure false, would be ignored and the stage
            // would serve plain TCP to clients the operator believes are authenticated: refused, never ignored.
            if (SettingsThatNeedSecure() is { Count: > 0 } set)
                problems.Add($"option 'tls.secure': false, but tls sets {string.Join(", ", set.Select(StageOptionsException.Mark))}; set Secure = true to serve TLS, "
                    + "or leave those options unset (with Secure false the stage serves plain TCP)");
            return;
        }
        if (HandshakeTimeout <= TimeSpan.Zero)
            problems.Add($"option 'tls.handshake_timeout': {Internal.DurationWords.Of(HandshakeTimeout)} is not allowed; must be positive, e.g. 10s");
        if (!Enum.IsDefined(ClientCertificate))
            problems.Add($"option 'tls.client_certificate': {ClientCertificate} is not allowed; must be required, optional or none");
        if ((Protocols & ~(SslProtocols.Tls12 | SslProtocols.Tls13)) != 0 || Protocols == SslProtocols.None)
            problems.Add($"option 'tls.protocols': {Protocols} is not allowed; use Tls12, Tls13 or both");
        if (server && Certificate is null)
            problems.Add($"option 'tls.certificate': a TLS server needs a certificate and private key ({StageOptionsException.Mark("certificate_pem")} and {StageOptionsException.Mark("private_key_pem")}, or their files)");
        if (!server && ClientCertificate != ClientCertificateMode.None)
            problems.Add($"option 'tls.client_certificate': applies to server stages; a client stage presents {StageOptionsException.Mark("tls.certificate")}");
        if (server && AcceptInvalidCertificates && ClientCertificate == ClientCertificateMode.None)
            problems.Add("option 'tls.accept_invalid_certificates': true, but this server asks for no client certificate, so there is none to accept "
                + $"(on a server it accepts client certificates that fail their checks, for development only); set {StageOptionsException.Mark("tls.client_certificate")} "
                + "to optional or required, or leave it false");
        if (ServerName is not null && !Internal.HostNameText.IsValid(ServerName.Trim()))
            problems.Add($"option 'tls.server_name': '{ServerName}' {ServerNameNotAName(server)}");
        if (CaCertificatePem is not null && CaCertificateFile is not null)
            problems.Add("options 'tls.ca_certificate_pem'/'tls.ca_certificate_file': give one, not both");
        Certificate?.Validate(problems, "tls.certificate");
        if (CertificateRevocationListPem is not null || CertificateRevocationListFile is not null)
        {
            if (CertificateRevocationListPem is not null && CertificateRevocationListFile is not null)
                problems.Add("options 'tls.certificate_revocation_list_pem'/'tls.certificate_revocation_list_file': give one, not both");
            if (!server || ClientCertificate == ClientCertificateMode.None)
                problems.Add($"option 'tls.certificate_revocation_list': applies to server stages asking for client certificates ({StageOptionsException.Mark("tls.client_certificate")} required or optional)");
            if (CaCertificatePem is null && CaCertificateFile is null)
                problems.Add($"option 'tls.certificate_revocation_list': needs the CA bundle ({StageOptionsException.Mark("tls.ca_certificate_pem")} or {StageOptionsException.Mark("tls.ca_certificate_file")}) whose CRL it is");
        }
        if (!server && SniCertificates is { Count: > 0 })
            problems.Add("option 'tls.sni_certificates': applies to server stages");
        foreach (var (name, certificate) in SniCertificates ?? new Dictionary<string, TlsCertificate>())
        {
            if (string.IsNullOrWhiteSpace(name) || certificate is null)
                problems.Add($"option 'tls.sni_certificates': '{name}' needs a name and a certificate");
            else
                certificate.Validate(problems, $"tls.sni_certificates.{name}");
        }
        if (ApplicationProtocols is { } alpn && alpn.Any(p => string.IsNullOrEmpty(p) || System.Text.Encoding.UTF8.GetByteCount(p) > 255))
            problems.Add("option 'tls.application_protocols': each name must be 1 to 255 bytes");
    }

    /// <summary>Why a server name that is neither a DNS name nor an IP address is refused, and what is allowed, for the stage's role.</summary>
    internal static string ServerNameNotAName(bool server) => server
        ? "is not a DNS name or an IP address, so no client could reach the server by it; give the name clients dial, which the server's certificate carries, e.g. gw.example.com"
        : $"is not a DNS name or an IP address, so no server certificate could match it; {Internal.HostNameText.Allowed}";

    /// <summary>The options (in the stage options' snake_case) that differ from their defaults and only apply when <see cref="Secure"/> is true.</summary>
    private List<string> SettingsThatNeedSecure()
    {
        var defaults = new TlsOptions();
        var set = new List<string>();
        if (Certificate is not null) set.Add("certificate");
        if (CaCertificatePem is not null) set.Add("ca_certificate_pem");
        if (CaCertificateFile is not null) set.Add("ca_certificate_file");
        if (CertificateRevocationListPem is not null) set.Add("certificate_revocation_list_pem");
        if (CertificateRevocationListFile is not null) set.Add("certificate_revocation_list_file");
        if (ServerName is not null) set.Add("server_name");
        if (AcceptInvalidCertificates) set.Add("accept_invalid_certificates");
        if (ClientCertificate != ClientCertificateMode.None) set.Add("client_certificate");
        if (HandshakeTimeout != defaults.HandshakeTimeout) set.Add("handshake_timeout");
        if (SniCertificates is { Count: > 0 }) set.Add("sni_certificates");
        if (ApplicationProtocols is { Count: > 0 }) set.Add("application_protocols");
        if (Protocols != defaults.Protocols) set.Add("protocols");
        return set;
    }
}
