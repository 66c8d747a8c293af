namespace Ferry.Stages;

/// <summary>What a TLS handshake negotiated, carried by <see cref="ConnectedEvent.Tls"/>.</summary>
/// <param name="Protocol">The TLS version, e.g. <c>Tls13</c>.</param>
/// <param name="CipherSuite">The negotiated cipher suite, e.g. <c>TLS_AES_256_GCM_SHA384</c>.</param>
/// <param name="ServerName">The SNI name the client asked for (server side) or the name checked (client side); null when none.</param>
/// <param name="PeerCertificateSubject">The subject of the peer's certificate (the client's under mutual TLS, the server's on a client stage); null when it sent none.</param>
/// <param name="PeerCertificateThumbprint">The SHA-1 thumbprint (hex) of the peer's certificate; null when it sent none.</param>
/// <param name="ApplicationProtocol">The ALPN protocol agreed on; null when none was.</param>
public sealed record TlsConnectionInfo(string Protocol, string CipherSuite, string? ServerName, string? PeerCertificateSubject, string? PeerCertificateThumbprint,
    string? ApplicationProtocol = null);
