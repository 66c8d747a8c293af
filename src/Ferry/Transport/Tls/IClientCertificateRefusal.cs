namespace Ferry.Transport.Tls;

/// <summary>
/// A server connection's transport that can say which client certificate its handshake refused: the stage logs the
/// refusal at warning level (rate-limited) with the certificate's subject and thumbprint, not only the disconnect detail.
/// </summary>
internal interface IClientCertificateRefusal
{
    /// <summary>The certificate refused by the stage's check (mutual TLS) when the handshake failed for that; else null.</summary>
    RefusedClientCertificate? RefusedClientCertificate { get; }
}
