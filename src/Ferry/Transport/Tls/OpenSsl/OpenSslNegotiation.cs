using System.Runtime.InteropServices;
using System.Security.Authentication;
using Ferry.Stages;
using static Ferry.Transport.Tls.OpenSsl.LibSsl;

namespace Ferry.Transport.Tls.OpenSsl;

/// <summary>What an OpenSSL handshake negotiated, in the words <see cref="TlsNegotiation.Describe"/> uses for SslStream.</summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
internal static unsafe class OpenSslNegotiation
{
    public static TlsConnectionInfo Describe(nint ssl)
    {
        var version = Marshal.PtrToStringUTF8(SSL_get_version(ssl));
        var protocol = version switch
        {
            "TLSv1.3" => SslProtocols.Tls13.ToString(),
            "TLSv1.2" => SslProtocols.Tls12.ToString(),
            _ => version ?? "unknown",
        };
        var cipher = SSL_get_current_cipher(ssl);
        // The IANA name, which is also the name of .NET's TlsCipherSuite member.
        var suite = cipher == 0 ? "unknown" : Marshal.PtrToStringUTF8(SSL_CIPHER_standard_name(cipher)) ?? "unknown";
        var name = SSL_get_servername(ssl, 0);
        byte* alpn;
        uint alpnLength;
        SSL_get0_alpn_selected(ssl, &alpn, &alpnLength);
        using var peer = OpenSslServerTls.PeerCertificate(ssl, out var intermediates);
        foreach (var link in intermediates)
            link.Dispose();
        // The certificate's bytes are kept, not the certificate: its native copy is freed here (TlsNegotiation.Describe says why).
        return new TlsConnectionInfo(protocol, suite, name == 0 ? null : Marshal.PtrToStringUTF8(name), peer?.Subject, peer?.Thumbprint,
            alpnLength == 0 ? null : System.Text.Encoding.UTF8.GetString(alpn, (int)alpnLength))
        {
            RemoteCertificateDer = peer is null ? null : new TlsConnectionInfo.PeerCertificateBytes(peer.RawData),
        };
    }
}
