using System.Security.Cryptography.X509Certificates;

namespace Ferry.Stages;

/// <summary>What a TLS handshake negotiated, carried by <see cref="ConnectedEvent.Tls"/>.</summary>
/// <param name="Protocol">The TLS version, e.g. <c>Tls13</c>.</param>
/// <param name="CipherSuite">The negotiated cipher suite, e.g. <c>TLS_AES_256_GCM_SHA384</c>.</param>
/// <param name="ServerName">The SNI name the client asked for (server side) or the name checked (client side); null when none.</param>
/// <param name="PeerCertificateSubject">The subject of the peer's certificate (the client's under mutual TLS, the server's on a client stage); null when it sent none.</param>
/// <param name="PeerCertificateThumbprint">The SHA-1 thumbprint (hex) of the peer's certificate; null when it sent none.</param>
/// <param name="ApplicationProtocol">The ALPN protocol agreed on; null when none was.</param>
public sealed record TlsConnectionInfo(string Protocol, string CipherSuite, string? ServerName, string? PeerCertificateSubject, string? PeerCertificateThumbprint,
    string? ApplicationProtocol = null)
{
    /// <summary>
    /// The peer's certificate as the handshake received it (DER), kept as bytes: a loaded <see cref="X509Certificate2"/> holds a
    /// native certificate, which every TLS connection would keep until a garbage collection ran its finalizer (see
    /// <c>TlsNegotiation.Describe</c>), and one shared instance would be disposed by one reader under the others.
    /// </summary>
    internal PeerCertificateBytes? RemoteCertificateDer { get; init; }

    /// <summary>
    /// The peer's certificate (the client's under mutual TLS, the server's on a client stage), to read what
    /// <see cref="PeerCertificateSubject"/> and <see cref="PeerCertificateThumbprint"/> do not carry: the subject alternative
    /// names, the issuer, the validity, other extensions. Null when the peer sent none. Only the peer's own certificate, not
    /// the chain it sent.
    /// </summary>
    /// <returns>A new instance on every call, which the caller owns: dispose it when done (it holds a native certificate).</returns>
    public X509Certificate2? GetRemoteCertificate()
        => RemoteCertificateDer is { } der ? X509CertificateLoader.LoadCertificate(der.Der) : null;

    /// <summary>
    /// A certificate's DER bytes, compared by content, so that two descriptions of the same handshake outcome stay equal as they
    /// were before the certificate was kept (a record compares its fields with their own <c>Equals</c>; an array's is by reference).
    /// </summary>
    internal sealed class PeerCertificateBytes(byte[] der) : IEquatable<PeerCertificateBytes>
    {
        public byte[] Der { get; } = der;

        public bool Equals(PeerCertificateBytes? other) => other is not null && Der.AsSpan().SequenceEqual(other.Der);

        public override bool Equals(object? obj) => Equals(obj as PeerCertificateBytes);

        public override int GetHashCode()
        {
            var hash = new HashCode();
            hash.AddBytes(Der);
            return hash.ToHashCode();
        }
    }
}
