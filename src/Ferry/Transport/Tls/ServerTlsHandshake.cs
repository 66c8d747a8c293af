using System.Net.Security;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using Ferry.Stages;
using Ferry.Transport.Streams;

namespace Ferry.Transport.Tls;

/// <summary>
/// A server stage's TLS handshake: its certificate (with chain) or the one its SNI table names for the
/// client's server name, TLS 1.2/1.3, ALPN, optional or required client certificates.
/// </summary>
internal sealed class ServerTlsHandshake : IStreamHandshake
{
    private readonly ReloadingCertificate _certificate;
    private readonly Dictionary<string, ReloadingCertificate> _byName = new(StringComparer.OrdinalIgnoreCase);
    private readonly List<SslApplicationProtocol>? _alpn;
    private readonly ClientCertificateMode _clientCertificate;
    private readonly SslProtocols _protocols;
    private readonly PeerCertificateCheck _check;
    private readonly ServedName? _served;

    public ServerTlsHandshake(TlsOptions options, TimeProvider time, CertificateReloadLog? reloadLog = null)
    {
        // Built once per stage (and again when the files change): each chain is sent with every
        // handshake without being rebuilt.
        // With a server_name, the certificate must carry it: at the start (the stage's options error) and at each reload.
        _certificate = new ReloadingCertificate(options.Certificate!, time, reloadLog, refuse: c => ServedName.NotCovered(options, c));
        _served = ServedName.Of(options);
        Time = time;
        foreach (var (name, certificate) in options.SniCertificates ?? new Dictionary<string, TlsCertificate>())
            _byName[ServedName.Bare(name)] = new ReloadingCertificate(certificate, time, reloadLog, TlsMaterial.SniKey(name));
        _alpn = options.ApplicationProtocols?.Select(p => new SslApplicationProtocol(p)).ToList();
        _clientCertificate = options.ClientCertificate;
        _protocols = options.Protocols;
        var cas = TlsMaterial.LoadCas(options.CaCertificatePem, options.CaCertificateFile);
        _check = new PeerCertificateCheck(cas, time, ReloadingRevocationList.Load(options, cas, time, reloadLog), options.AcceptInvalidCertificates);
    }

    /// <summary>The certificate for an SNI name: exact, then <c>*.parent</c>, then the default.</summary>
    private SslStreamCertificateContext For(string? serverName)
    {
        if (_byName.Count == 0 || string.IsNullOrEmpty(serverName))
            return _certificate.Current;
        // As the name check compares it (ServedName): no trailing dot, ASCII (SslStream gives an IDN in Unicode).
        serverName = ServedName.Bare(serverName);
        if (_byName.TryGetValue(serverName, out var exact))
            return exact.Current;
        var dot = serverName.IndexOf('.');
        return (dot > 0 && _byName.TryGetValue("*" + serverName[dot..], out var wildcard) ? wildcard : _certificate).Current;
    }

    public TimeProvider Time { get; }

    /// <summary>
    /// The check's word for a client certificate the runtime's OpenSSL refused before the check could see it, or null.
    /// </summary>
    /// <remarks>
    /// SslStream lets OpenSSL build and verify the client's chain during the handshake (ignoring the verdict, so that
    /// the validation callback decides), but a signature that does not verify leaves OpenSSL's error behind, and under
    /// TLS 1.3 the handshake's next step reads it as its own failure: the callback never runs. That happens when the
    /// client sends, after its certificate, a certificate of the same name as its issuer but another key (an OpenSSL
    /// client does so by itself, completing its chain from its own trust store: a certificate from an impostor CA that
    /// bears the name of the real one). The error is then ASN.1's "EVP lib": a signature check failed, and in a server's
    /// handshake the only signatures ASN.1 checks are those of the client's certificates (the client's proof of its key
    /// is checked by the TLS layer, with errors of its own). It is reported as the check would, and only when a client
    /// certificate was asked for; any other OpenSSL failure keeps its own words.
    /// </remarks>
    private string? RefusedInsideOpenSsl(AuthenticationException failure)
        => _clientCertificate != ClientCertificateMode.None && TlsFailure.IsSignatureCheckFailure(failure)
            ? $"untrusted (NotSignatureValid): a signature in the client's certificate chain does not verify (OpenSSL: {TlsFailure.Cause(failure)})"
            : null;

    public async Task<(Stream Stream, TlsConnectionInfo Info)> RunAsync(Stream inner, CancellationToken cancellationToken)
    {
        var ssl = new SslStream(inner, leaveInnerStreamOpen: false);
        string? refused = null;
        RefusedClientCertificate? refusedCertificate = null;
        var nameRefused = false;
        var options = new SslServerAuthenticationOptions
        {
            EnabledSslProtocols = _protocols,
            ApplicationProtocols = _alpn,
            ClientCertificateRequired = _clientCertificate != ClientCertificateMode.None,
            CertificateRevocationCheckMode = X509RevocationMode.NoCheck,
            // No resumption when client certificates are asked for: on a resumed session SslStream hands the check the
            // client's certificate without the intermediates it sent in the full handshake (OpenSSL keeps none in the
            // ticket, and the runtime offers no way to add them), so a client whose certificate an intermediate signed
            // would be refused as "untrusted (PartialChain)" each time it resumed. A full handshake checks it as the
            // first one did. (The epoll transport carries the intermediates in its own tickets: see TicketIntermediates.)
            AllowTlsResume = _clientCertificate == ClientCertificateMode.None,
            RemoteCertificateValidationCallback = (_, certificate, chain, errors) =>
            {
                if (_clientCertificate == ClientCertificateMode.None)
                    return true;
                refused = _check.Check(certificate, chain, errors, _clientCertificate == ClientCertificateMode.Required, checkName: false);
                if (refused is not null)
                    refusedCertificate = RefusedClientCertificate.Of(certificate);
                return refused is null;
            },
        };
        // The certificate is chosen once the client's hello (and its SNI name) is in; a name this server does not serve
        // (tls.server_name) ends the handshake there, before any certificate is sent.
        await TlsNegotiation.RunAsync(ssl, () => ssl.AuthenticateAsServerAsync((_, hello, _, _) =>
        {
            if (_served?.Refusal(hello.ServerName) is { } mismatch)
            {
                (refused, nameRefused) = (mismatch, true);
                throw new TlsRejectedException(mismatch);
            }
            options.ServerCertificateContext = For(hello.ServerName);
            return ValueTask.FromResult(options);
        }, null, cancellationToken), failure => refused ?? RefusedInsideOpenSsl(failure),
            // Refused inside OpenSSL (RefusedInsideOpenSsl): the certificate was never handed to the check. A refused name
            // is no certificate's refusal: nothing to log as one.
            () => nameRefused ? null : refusedCertificate ?? RefusedClientCertificate.None).ConfigureAwait(false);
        return (ssl, TlsNegotiation.Describe(ssl, string.IsNullOrEmpty(ssl.TargetHostName) ? null : ssl.TargetHostName));
    }
}
