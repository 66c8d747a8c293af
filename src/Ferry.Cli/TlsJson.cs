using System.Text.Json;
using Ferry.Stages;

namespace Ferry.Cli;

/// <summary>What a TLS handshake negotiated, as the <c>tls</c> object of a <c>connected</c> line.</summary>
internal static class TlsJson
{
    public static void Write(Utf8JsonWriter j, TlsConnectionInfo tls)
    {
        j.WriteStartObject("tls");
        j.WriteString("protocol", tls.Protocol);
        j.WriteString("cipher_suite", tls.CipherSuite);
        if (tls.ServerName is not null)
            j.WriteString("server_name", tls.ServerName);
        if (tls.ApplicationProtocol is not null)
            j.WriteString("alpn", tls.ApplicationProtocol);
        if (tls.PeerCertificateSubject is not null)
            j.WriteString("peer_subject", tls.PeerCertificateSubject);
        if (tls.PeerCertificateThumbprint is not null)
            j.WriteString("peer_thumbprint", tls.PeerCertificateThumbprint);
        j.WriteEndObject();
    }
}
