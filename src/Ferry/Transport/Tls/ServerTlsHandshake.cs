using System.Net.Security;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using Ferry.Stages;
using Ferry.Transport.Streams;

namespace Ferry.Transport.Tls;

/// <summary>A server stage's TLS handshake: its certificate (with chain), TLS 1.2/1.3, optional or required client certificates.</summary>
internal sealed class ServerTlsHandshake : IStreamHandshake
{
    private readonly SslStreamCertificateContext _certificate;
    private readonly ClientCertificateMode _clientCertificate;
    private readonly SslProtocols _protocols;
    private readonly PeerCertificateCheck _check;

    public ServerTlsHandshake(TlsOptions options, TimeProvider time)
    {
        var (certificate, chain) = TlsMaterial.LoadCertificate(options.Certificate!);
        // Built once per stage: the chain is sent with every handshake without being rebuilt.
        _certificate = SslStreamCertificateContext.Create(certificate, chain, offline: true);
        _clientCertificate = options.ClientCertificate;
        _protocols = options.Protocols;
        _check = new PeerCertificateCheck(TlsMaterial.LoadCas(options.CaCertificatePem, options.CaCertificateFile), time);
    }

    public async Task<(Stream Stream, TlsConnectionInfo Info)> RunAsync(Stream inner, CancellationToken cancellationToken)
    {
        var ssl = new SslStream(inner, leaveInnerStreamOpen: false);
        string? refused = null;
        var options = new SslServerAuthenticationOptions
        {
            ServerCertificateContext = _certificate,
            EnabledSslProtocols = _protocols,
            ClientCertificateRequired = _clientCertificate != ClientCertificateMode.None,
            CertificateRevocationCheckMode = X509RevocationMode.NoCheck,
            RemoteCertificateValidationCallback = (_, certificate, chain, errors) =>
            {
                if (_clientCertificate == ClientCertificateMode.None)
                    return true;
                refused = _check.Check(certificate, chain, errors, _clientCertificate == ClientCertificateMode.Required, checkName: false);
                return refused is null;
            },
        };
        try
        {
            await ssl.AuthenticateAsServerAsync(options, cancellationToken).ConfigureAwait(false);
        }
        catch (AuthenticationException ex) when (refused is not null)
        {
            await ssl.DisposeAsync().ConfigureAwait(false);
            throw new TlsRejectedException(refused, ex);
        }
        catch
        {
            await ssl.DisposeAsync().ConfigureAwait(false);
            throw;
        }
        var peer = ssl.RemoteCertificate as X509Certificate2;
        var info = new TlsConnectionInfo(ssl.SslProtocol.ToString(), ssl.NegotiatedCipherSuite.ToString(),
            string.IsNullOrEmpty(ssl.TargetHostName) ? null : ssl.TargetHostName, peer?.Subject, peer?.Thumbprint);
        return (ssl, info);
    }
}
