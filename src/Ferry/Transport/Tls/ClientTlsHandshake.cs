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
    private readonly X509Certificate2Collection? _clientCertificates;
    private readonly SslProtocols _protocols;
    private readonly List<SslApplicationProtocol>? _alpn;
    private readonly bool _acceptInvalid;
    private readonly PeerCertificateCheck _check;

    public ClientTlsHandshake(TlsOptions options, string serverName, TimeProvider time)
    {
        _serverName = serverName;
        if (options.Certificate is { } certificate)
        {
            var (own, chain) = TlsMaterial.LoadCertificate(certificate);
            _clientCertificates = [own, .. chain];
        }
        _protocols = options.Protocols;
        _alpn = options.ApplicationProtocols?.Select(p => new SslApplicationProtocol(p)).ToList();
        _acceptInvalid = options.AcceptInvalidCertificates;
        _check = new PeerCertificateCheck(TlsMaterial.LoadCas(options.CaCertificatePem, options.CaCertificateFile), time);
        Time = time;
    }

    public TimeProvider Time { get; }

    public async Task<(Stream Stream, TlsConnectionInfo Info)> RunAsync(Stream inner, CancellationToken cancellationToken)
    {
        var ssl = new SslStream(inner, leaveInnerStreamOpen: false);
        string? refused = null;
        var options = new SslClientAuthenticationOptions
        {
            TargetHost = _serverName,
            ClientCertificates = _clientCertificates,
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
                return refused is null;
            },
        };
        await TlsNegotiation.RunAsync(ssl, () => ssl.AuthenticateAsClientAsync(options, cancellationToken), () => refused).ConfigureAwait(false);
        return (ssl, TlsNegotiation.Describe(ssl, _serverName));
    }
}
