using System.Net.Security;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using Ferry.Stages;
using Ferry.Transport.Streams;

namespace Ferry.Transport.Tls;

/// <summary>A client stage's TLS handshake: SNI and the name check, a CA bundle, an optional client certificate.</summary>
internal sealed class ClientTlsHandshake : IStreamHandshake
{
    private readonly string _serverName;
    /// <summary>The client certificate, followed in its files as a server's is: a long-running client stage takes a rotated one at its next dial.</summary>
    private readonly ReloadingCertificate? _clientCertificate;
    private readonly SslProtocols _protocols;
    private readonly List<SslApplicationProtocol>? _alpn;
    private readonly bool _acceptInvalid;
    private readonly PeerCertificateCheck _check;
    private readonly bool _hasOwnCas;

    public ClientTlsHandshake(TlsOptions options, string serverName, TimeProvider time, CertificateReloadLog? reloadLog = null)
    {
        _serverName = serverName;
        if (options.Certificate is { } certificate)
            _clientCertificate = new ReloadingCertificate(certificate, time, reloadLog);
        _protocols = options.Protocols;
        _alpn = options.ApplicationProtocols?.Select(p => new SslApplicationProtocol(p)).ToList();
        _acceptInvalid = options.AcceptInvalidCertificates;
        _hasOwnCas = options.CaCertificatePem is not null || options.CaCertificateFile is not null;
        _check = new PeerCertificateCheck(TlsMaterial.LoadCas(options.CaCertificatePem, options.CaCertificateFile), time);
        Time = time;
    }

    public TimeProvider Time { get; }

    /// <summary>
    /// The check's word (kept first: <c>name mismatch</c>, <c>untrusted (…)</c>; the metrics tag failures by it) followed by what
    /// was refused and what would be accepted, so that the operator can tell a wrong name from a missing CA without a packet
    /// capture. <c>expired</c> and <c>not yet valid</c> stay as they are: the metrics match them exactly.
    /// </summary>
    private string Explain(string refused, X509Certificate certificate)
    {
        // A copy made here is released here; SslStream's certificate stays SslStream's.
        using var copy = certificate is X509Certificate2 ? null : X509CertificateLoader.LoadCertificate(certificate.GetRawCertData());
        var peer = copy ?? (X509Certificate2)certificate;
        if (refused == "name mismatch")
        {
            return $"name mismatch: the server's certificate ({ServedName.Describe(peer)}) is not for '{_serverName}'; "
                + "dial a name it carries or set tls.server_name (--tls-server-name) to one";
        }
        if (refused.StartsWith("untrusted", StringComparison.Ordinal))
            return $"{refused}: the server's certificate ({peer.Subject}, issued by {peer.Issuer}) does not chain to "
                + (_hasOwnCas
                    ? "the CA bundle given (tls.ca_certificate_pem or tls.ca_certificate_file, --tls-ca)"
                    : "the system's trusted roots; give its CA with tls.ca_certificate_file (--tls-ca)");
        return refused;
    }

    public async Task<(Stream Stream, TlsConnectionInfo Info)> RunAsync(Stream inner, CancellationToken cancellationToken)
    {
        var ssl = new SslStream(inner, leaveInnerStreamOpen: false);
        string? refused = null;
        var options = new SslClientAuthenticationOptions
        {
            TargetHost = _serverName,
            // A context (not a collection) sends the intermediates the files hold with the certificate.
            ClientCertificateContext = _clientCertificate?.Current,
            EnabledSslProtocols = _protocols,
            ApplicationProtocols = _alpn,
            CertificateRevocationCheckMode = X509RevocationMode.NoCheck,
            RemoteCertificateValidationCallback = (_, certificate, chain, errors) =>
            {
                if (_acceptInvalid)
                    return true;
                refused = _check.Check(certificate, chain, errors, required: true, checkName: true);
                if (refused == "no client certificate")
                    refused = "no server certificate";
                if (refused is not null && certificate is not null)
                    refused = Explain(refused, certificate);
                return refused is null;
            },
        };
        await TlsNegotiation.RunAsync(ssl, () => ssl.AuthenticateAsClientAsync(options, cancellationToken), _ => refused).ConfigureAwait(false);
        return (ssl, TlsNegotiation.Describe(ssl, _serverName));
    }
}
