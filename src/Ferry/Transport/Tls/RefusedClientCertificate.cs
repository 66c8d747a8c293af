namespace Ferry.Transport.Tls;

/// <summary>
/// The client certificate a server stage's check refused during a handshake, for the operator's log line: its subject and
/// SHA-1 thumbprint, or nulls when the client sent none (or the runtime refused it before the check could read it).
/// </summary>
internal sealed record RefusedClientCertificate(string? Subject, string? Thumbprint)
{
    /// <summary>A required certificate the client did not send (or one the check never saw).</summary>
    public static readonly RefusedClientCertificate None = new(null, null);

    /// <summary>The certificate's subject and thumbprint.</summary>
    public static RefusedClientCertificate Of(System.Security.Cryptography.X509Certificates.X509Certificate? certificate) => certificate switch
    {
        null => None,
        System.Security.Cryptography.X509Certificates.X509Certificate2 c => new(c.Subject, c.Thumbprint),
        _ => new(certificate.Subject, certificate.GetCertHashString()),
    };
}
