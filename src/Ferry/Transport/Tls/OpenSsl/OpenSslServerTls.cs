using System.Net.Security;
using System.Runtime.InteropServices;
using System.Security.Cryptography.X509Certificates;
using Ferry.Stages;
using static Ferry.Transport.Tls.OpenSsl.LibSsl;

namespace Ferry.Transport.Tls.OpenSsl;

/// <summary>
/// A server stage's TLS on the epoll transport: the same certificates (PEM or PKCS#12, with chains,
/// reloaded when their files change, chosen by SNI), protocols, ALPN and client-certificate rules as
/// <see cref="ServerTlsHandshake"/>, as OpenSSL contexts. One context per certificate version: a
/// reloaded certificate gets a new one, and connections on the old one keep it until they close.
/// </summary>
/// <remarks>Handshakes run on the stage's service thread only, so the contexts are built and switched there.</remarks>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
internal sealed unsafe class OpenSslServerTls
{
    private readonly VersionedContext _default;
    private readonly Dictionary<string, VersionedContext> _byName = new(StringComparer.OrdinalIgnoreCase);
    private readonly PeerCertificateCheck _check;
    private readonly GCHandle _self;

    /// <summary>The name clients reach the stage by (<c>server_name</c>), whose SNI <see cref="OnServerName"/> holds clients to; null for any.</summary>
    private readonly ServedName? _served;

    /// <summary>The connection whose client certificate <see cref="CheckInHandshake"/> refused last, why, and which certificate.</summary>
    private (nint Ssl, string? Reason, RefusedClientCertificate? Certificate) _refusal;

    public OpenSslServerTls(TlsOptions options, TimeProvider time, CertificateReloadLog? reloadLog = null)
    {
        ClientCertificate = options.ClientCertificate;
        Time = time;
        // The servername callback finds this object again through a weak handle: it never keeps it alive.
        _self = GCHandle.Alloc(this, GCHandleType.Weak);
        _served = ServedName.Of(options);
        // With a server_name, the certificate must carry it: at the start (the stage's options error) and at each reload.
        _default = new VersionedContext(this, new ReloadingCertificate(options.Certificate!, time, reloadLog, refuse: c => ServedName.NotCovered(options, c)),
            options, reloadLog);
        foreach (var (name, certificate) in options.SniCertificates ?? new Dictionary<string, TlsCertificate>())
            _byName[ServedName.Bare(name)] = new VersionedContext(this, new ReloadingCertificate(certificate, time, reloadLog, TlsMaterial.SniKey(name)), options, reloadLog);
        // Every context is built now, the SNI certificates' too (each told at its own key): a certificate OpenSSL refuses
        // (a key too small for its security level) is the stage's options error at the start, not a handshake failure later.
        _default.Start();
        foreach (var context in _byName.Values)
            context.Start();
        var cas = TlsMaterial.LoadCas(options.CaCertificatePem, options.CaCertificateFile);
        _check = new PeerCertificateCheck(cas, time, ReloadingRevocationList.Load(options, cas, time, reloadLog), options.AcceptInvalidCertificates);
    }

    ~OpenSslServerTls() => _self.Free();

    /// <summary>The stage's clock (a connection's record deadline is on it).</summary>
    public TimeProvider Time { get; }

    /// <summary>Whether and how clients must show a certificate.</summary>
    public ClientCertificateMode ClientCertificate { get; }

    /// <summary>The stage's OpenSSL sessions that are alive (not yet freed): 0 once every connection is closed.</summary>
    public LiveCount Sessions { get; } = new();

    /// <summary>A new server session on the default certificate's current context; SNI may move it to another.</summary>
    public TlsRecordSession CreateSession() => new(_default.Current, server: true, Sessions);

    /// <summary>
    /// Null when the client's certificate (if any) is acceptable, else the reason, in the stream transport's words. Run once
    /// the handshake is done; a certificate the handshake already judged (<see cref="CheckInHandshake"/>) is not judged again.
    /// </summary>
    public string? CheckClient(nint ssl, out RefusedClientCertificate? refused)
    {
        refused = null;
        if (ClientCertificate == ClientCertificateMode.None || SSL_get_ex_data(ssl, VettedIndex) != 0)
            return null;
        using var peer = PeerCertificate(ssl, out var intermediates);
        var reason = Judge(peer, intermediates);
        if (reason is not null)
            refused = RefusedClientCertificate.Of(peer);
        return reason;
    }

    /// <summary>The check's reason for refusing <paramref name="peer"/> with the <paramref name="intermediates"/> it sent, or null; releases the intermediates.</summary>
    private string? Judge(X509Certificate2? peer, X509Certificate2Collection intermediates)
    {
        using var chain = new X509Chain();
        try
        {
            chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
            chain.ChainPolicy.ExtraStore.AddRange(intermediates);
            // What SslStream reports to its validation callback: the chain built with the system's roots.
            var errors = peer is null ? SslPolicyErrors.RemoteCertificateNotAvailable
                : chain.Build(peer) ? SslPolicyErrors.None : SslPolicyErrors.RemoteCertificateChainErrors;
            return _check.Check(peer, peer is null ? null : chain, errors, ClientCertificate == ClientCertificateMode.Required, checkName: false);
        }
        finally
        {
            // Per handshake: the intermediates the client sent and the chain's own copies are native certificates.
            ChainCertificates.ReleaseElements(chain);
            ChainCertificates.Release(intermediates);
        }
    }

    /// <summary>
    /// The words for a failed handshake of <paramref name="ssl"/>: the check's reason when it refused the client's
    /// certificate (or <see cref="OnServerName"/> the name it asked for) during the handshake, <c>no client certificate</c>
    /// when a required one was not sent, else OpenSSL's.
    /// </summary>
    /// <param name="ssl">The connection.</param>
    /// <param name="openSslFailure">OpenSSL's words for the failure.</param>
    /// <param name="refused">The client certificate refused, when the stage's check (or a missing required one) failed the handshake; else null.</param>
    public string HandshakeFailure(nint ssl, string openSslFailure, out RefusedClientCertificate? refused)
    {
        if (_refusal.Ssl == ssl && _refusal.Reason is { } reason)
        {
            refused = _refusal.Certificate;
            _refusal = default;
            return reason;
        }
        if (ClientCertificate == ClientCertificateMode.Required && openSslFailure.Contains("peer did not return a certificate", StringComparison.Ordinal))
        {
            refused = RefusedClientCertificate.None;
            return "no client certificate";
        }
        refused = null;
        return openSslFailure;
    }

    /// <summary>
    /// OpenSSL's verification of the client's certificate, replaced by the stage's check (CA bundle, validity on the stage
    /// clock, CRL) while the handshake runs, so that a refused client is told why by the alert the refusal maps to
    /// (certificate_revoked, certificate_expired, unknown_ca, bad_certificate) instead of seeing a finished handshake and
    /// then a closed connection. The reason is kept for <see cref="HandshakeFailure"/> (handshakes run on the service
    /// thread, and the refusal fails the very <c>SSL_do_handshake</c> call it happened in). Resumed sessions skip this
    /// callback and are checked after the handshake (<see cref="CheckClient"/>).
    /// </summary>
    [UnmanagedCallersOnly]
    private static int CheckInHandshake(nint store, nint arg)
    {
        try
        {
            if (GCHandle.FromIntPtr(arg).Target is not OpenSslServerTls tls)
                return 1; // judged after the handshake
            var ssl = X509_STORE_CTX_get_ex_data(store, SSL_get_ex_data_X509_STORE_CTX_idx());
            var leaf = X509_STORE_CTX_get0_cert(store);
            if (ssl == 0 || leaf == 0)
                return 1;
            using var peer = X509CertificateLoader.LoadCertificate(Der(leaf));
            var refused = tls.Judge(peer, Sent(X509_STORE_CTX_get0_untrusted(store), peer));
            if (refused is null)
            {
                SSL_set_ex_data(ssl, VettedIndex, 1);
                return 1;
            }
            tls._refusal = (ssl, refused, RefusedClientCertificate.Of(peer));
            X509_STORE_CTX_set_error(store, refused switch
            {
                "expired" => X509_V_ERR_CERT_HAS_EXPIRED,
                "revoked" => X509_V_ERR_CERT_REVOKED,
                "not yet valid" => X509_V_ERR_CERT_NOT_YET_VALID,
                _ when refused.StartsWith(PeerCertificateCheck.RevocationListNotYetValid, StringComparison.Ordinal) => X509_V_ERR_CRL_NOT_YET_VALID,
                _ when refused.StartsWith(PeerCertificateCheck.RevocationListExpired, StringComparison.Ordinal) => X509_V_ERR_CRL_HAS_EXPIRED,
                _ => X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY,
            });
            return 0;
        }
        catch (Exception)
        {
            // A certificate .NET cannot read here: the check after the handshake judges it (and says why).
            return 1;
        }
    }

    /// <summary>The certificates of <paramref name="stack"/> other than <paramref name="peer"/>, as .NET certificates (the caller releases them).</summary>
    private static X509Certificate2Collection Sent(nint stack, X509Certificate2 peer)
    {
        var intermediates = new X509Certificate2Collection();
        var count = stack == 0 ? 0 : OPENSSL_sk_num(stack);
        for (var i = 0; i < count; i++)
        {
            var link = X509CertificateLoader.LoadCertificate(Der(OPENSSL_sk_value(stack, i)));
            if (link.RawDataMemory.Span.SequenceEqual(peer.RawDataMemory.Span))
                link.Dispose();
            else
                intermediates.Add(link);
        }
        return intermediates;
    }

    /// <summary>The SSL ex-data slot that marks a connection whose client certificate the handshake accepted.</summary>
    private static readonly int VettedIndex = CRYPTO_get_ex_new_index(0 /* CRYPTO_EX_INDEX_SSL */, 0, 0, 0, 0, 0);

    /// <summary>The client's certificate as .NET sees it (null when it sent none), and the intermediates it sent.</summary>
    public static X509Certificate2? PeerCertificate(nint ssl, out X509Certificate2Collection intermediates)
    {
        intermediates = [];
        var x509 = SSL_get1_peer_certificate(ssl);
        if (x509 == 0)
            return null;
        X509Certificate2 peer;
        try
        {
            peer = X509CertificateLoader.LoadCertificate(Der(x509));
        }
        finally
        {
            X509_free(x509);
        }
        // On a server the stack holds what the client sent after its own certificate; on a resumed session the client
        // sent nothing, and the ticket it resumed carries what it sent in the full handshake.
        var stack = SSL_get_peer_cert_chain(ssl);
        var count = stack == 0 ? 0 : OPENSSL_sk_num(stack);
        var sent = new List<byte[]>(count);
        for (var i = 0; i < count; i++)
            sent.Add(Der(OPENSSL_sk_value(stack, i)));
        if (count == 0 && SSL_session_reused(ssl) == 1)
            sent = TicketIntermediates.Read(ssl);
        foreach (var der in sent)
        {
            var link = X509CertificateLoader.LoadCertificate(der);
            if (link.RawDataMemory.Span.SequenceEqual(peer.RawDataMemory.Span))
                link.Dispose();
            else
                intermediates.Add(link);
        }
        return peer;
    }

    private static byte[] Der(nint x509)
    {
        var length = i2d_X509(x509, null);
        if (length <= 0)
            throw new InvalidOperationException("OpenSSL: i2d_X509 failed: " + TakeErrors());
        var der = new byte[length];
        fixed (byte* p = der)
        {
            var cursor = p;
            i2d_X509(x509, &cursor);
        }
        return der;
    }

    /// <summary>The context for an SNI name: exact, then <c>*.parent</c>, then the default (as <see cref="ServerTlsHandshake"/>).</summary>
    private SslContextHandle For(string serverName)
    {
        // As the name check compares it (ServedName): no trailing dot, ASCII.
        serverName = ServedName.Bare(serverName);
        if (_byName.TryGetValue(serverName, out var exact))
            return exact.Current;
        var dot = serverName.IndexOf('.');
        return (dot > 0 && _byName.TryGetValue("*" + serverName[dot..], out var wildcard) ? wildcard : _default).Current;
    }

    /// <summary>
    /// The SNI name of the client hello itself, before OpenSSL decides on resumption: a name the stage does not serve
    /// (<c>server_name</c>) fails the handshake with an unrecognized_name alert, its reason kept for <see cref="HandshakeFailure"/>.
    /// Not in <see cref="OnServerName"/>: when a TLS 1.2 session is resumed, <c>SSL_get_servername</c> there gives the name
    /// stored in the session, not the one this hello asks for, so a client could resume a session made for the served
    /// name (or for no name at all) while asking for another.
    /// </summary>
    [UnmanagedCallersOnly]
    private static int OnClientHello(nint ssl, int* alert, nint arg)
    {
        try
        {
            if (GCHandle.FromIntPtr(arg).Target is not OpenSslServerTls { _served: { } served } tls)
                return SSL_CLIENT_HELLO_SUCCESS;
            byte* extension;
            nuint length;
            if (SSL_client_hello_get0_ext(ssl, TLSEXT_TYPE_server_name, &extension, &length) != 1)
                return SSL_CLIENT_HELLO_SUCCESS;
            var requested = SniExtension.HostName(new ReadOnlySpan<byte>(extension, checked((int)length)));
            if (served.Refusal(requested) is not { } refusal)
                return SSL_CLIENT_HELLO_SUCCESS;
            // No certificate was refused: nothing for the stage to log as a client certificate.
            tls._refusal = (ssl, refusal, null);
            *alert = SSL_AD_UNRECOGNIZED_NAME;
            return SSL_CLIENT_HELLO_ERROR;
        }
        catch (Exception)
        {
            // A hello whose extension cannot be read: refuse this handshake, keep the stage.
            *alert = SSL_AD_UNRECOGNIZED_NAME;
            return SSL_CLIENT_HELLO_ERROR;
        }
    }

    /// <summary>The certificate for the client's SNI name (the SNI table), once its hello is in and its name was let through by <see cref="OnClientHello"/>.</summary>
    [UnmanagedCallersOnly]
    private static int OnServerName(nint ssl, int* alert, nint arg)
    {
        try
        {
            var name = SSL_get_servername(ssl, 0);
            if (name == 0 || GCHandle.FromIntPtr(arg).Target is not OpenSslServerTls tls)
                return SSL_TLSEXT_ERR_OK;
            var requested = Marshal.PtrToStringUTF8(name) ?? "";
            var context = tls.For(requested);
            // OpenSSL takes its own reference: the context lives as long as this connection uses it.
            SSL_set_SSL_CTX(ssl, context.DangerousGetHandle());
            return SSL_TLSEXT_ERR_OK;
        }
        catch (Exception)
        {
            // A certificate that cannot be loaded for this name: refuse this handshake, keep the stage.
            return SSL_TLSEXT_ERR_ALERT_FATAL;
        }
    }

    /// <summary>One certificate source and the OpenSSL context of its current version.</summary>
    private sealed class VersionedContext(OpenSslServerTls owner, ReloadingCertificate certificate, TlsOptions options, CertificateReloadLog? log)
    {
        private SslStreamCertificateContext? _version;
        private SslContextHandle? _context;

        /// <summary>A reloaded version OpenSSL refused (told once): the context in service stays.</summary>
        private SslStreamCertificateContext? _refused;

        /// <summary>Builds the first context; what OpenSSL refuses is thrown (<see cref="TlsMaterialException"/>, at the certificate's key).</summary>
        public void Start() => _ = Current;

        /// <summary>The context for the certificate in service now (a new one after a reload).</summary>
        public SslContextHandle Current
        {
            get
            {
                var version = certificate.Current;
                if (!ReferenceEquals(version, _version) && !ReferenceEquals(version, _refused))
                {
                    SslContextHandle context;
                    try
                    {
                        context = SslContextHandle.CreateServer(version.TargetCertificate, version.IntermediateCertificates, options.Protocols,
                            options.ApplicationProtocols, options.ClientCertificate != ClientCertificateMode.None, certificate.Key);
                    }
                    catch (TlsMaterialException ex) when (_context is not null)
                    {
                        // A reloaded certificate .NET took but OpenSSL refuses: the one in service stays, as for a broken pair.
                        // This runs inside a handshake on the service thread: it must not fail more than that.
                        _refused = version;
                        log?.Kept(certificate.Files, ex.Message, _version!.TargetCertificate);
                        return _context;
                    }
                    if (options.ClientCertificate != ClientCertificateMode.None)
                    {
                        // The stage's check runs inside the handshake (a refusal is sent as an alert); a required certificate
                        // that is not sent fails the handshake there too (certificate_required under TLS 1.3).
                        SSL_CTX_set_verify(context.DangerousGetHandle(),
                            SSL_VERIFY_PEER | (options.ClientCertificate == ClientCertificateMode.Required ? SSL_VERIFY_FAIL_IF_NO_PEER_CERT : 0), 0);
                        SSL_CTX_set_cert_verify_callback(context.DangerousGetHandle(),
                            (nint)(delegate* unmanaged<nint, nint, int>)&CheckInHandshake, GCHandle.ToIntPtr(owner._self));
                    }
                    if (owner._served is not null)
                        SSL_CTX_set_client_hello_cb(context.DangerousGetHandle(), (nint)(delegate* unmanaged<nint, int*, nint, int>)&OnClientHello, GCHandle.ToIntPtr(owner._self));
                    if (owner._byName.Count > 0)
                        SSL_CTX_callback_ctrl(context.DangerousGetHandle(), SSL_CTRL_SET_TLSEXT_SERVERNAME_CB, (nint)(delegate* unmanaged<nint, int*, nint, int>)&OnServerName);
                    SSL_CTX_ctrl(context.DangerousGetHandle(), SSL_CTRL_SET_TLSEXT_SERVERNAME_ARG, 0, GCHandle.ToIntPtr(owner._self));
                    // Connections made from the old one keep it (their own references); this one is let go.
                    _context?.Dispose();
                    (_context, _version) = (context, version);
                }
                return _context!;
            }
        }
    }
}
