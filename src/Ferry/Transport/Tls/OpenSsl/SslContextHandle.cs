using System.Runtime.InteropServices;
using System.Security.Authentication;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using static Ferry.Transport.Tls.OpenSsl.LibSsl;

namespace Ferry.Transport.Tls.OpenSsl;

/// <summary>
/// One OpenSSL <c>SSL_CTX</c>: a certificate (with key and chain) and the stage's TLS settings. Built once
/// per certificate version; every <see cref="SslHandle"/> made from it holds a reference, so a reloaded
/// certificate's old context lives exactly as long as the connections that still use it.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
internal sealed unsafe class SslContextHandle : SafeHandle
{
    private SslContextHandle(nint ctx) : base(0, ownsHandle: true) => SetHandle(ctx);

    public override bool IsInvalid => handle == 0;

    /// <summary>
    /// A server context: <paramref name="certificate"/> (with its private key) and <paramref name="chain"/>,
    /// the protocol versions, the ALPN protocols it accepts (server's order of preference), and whether it
    /// asks for a client certificate. Client certificates are not verified by OpenSSL's rules: <see cref="OpenSslServerTls"/>
    /// replaces this context's accept-all callback with its own check (in .NET, the same rules and reasons as the stream transport).
    /// What OpenSSL refuses of the certificate is told at <paramref name="key"/>: the option the certificate was given at
    /// (<see cref="TlsMaterial.CertificateKey"/>, or an SNI certificate's <see cref="TlsMaterial.SniKey"/>).
    /// </summary>
    public static SslContextHandle CreateServer(X509Certificate2 certificate, IEnumerable<X509Certificate2> chain, SslProtocols protocols,
        IReadOnlyList<string>? alpn, bool askClientCertificate, string key = TlsMaterial.CertificateKey)
    {
        var context = Create(TLS_server_method(), protocols);
        try
        {
            context.UseCertificate(certificate, chain, key);
            // Sessions resume with stateless tickets; a server-side cache would only hold memory.
            SSL_CTX_ctrl(context.handle, SSL_CTRL_SET_SESS_CACHE_MODE, 0, 0);
            if (askClientCertificate)
            {
                SSL_CTX_set_verify(context.handle, SSL_VERIFY_PEER, 0);
                SSL_CTX_set_cert_verify_callback(context.handle, (nint)(delegate* unmanaged<nint, nint, int>)&AcceptForLaterCheck, 0);
                // Resumed sessions are checked again by the connection, with the chain the ticket carries.
                TicketIntermediates.Enable(context.handle);
            }
            if (alpn is { Count: > 0 })
                context.SelectAlpn(alpn);
            return context;
        }
        catch
        {
            context.Dispose();
            throw;
        }
    }

    /// <summary>A client context that accepts any server certificate (benchmarks and tests of the server).</summary>
    public static SslContextHandle CreateClient(SslProtocols protocols)
    {
        var context = Create(TLS_client_method(), protocols);
        // No client-side session cache: every ticket a server sends would be kept in it.
        SSL_CTX_ctrl(context.handle, SSL_CTRL_SET_SESS_CACHE_MODE, 0, 0);
        return context;
    }

    private static SslContextHandle Create(nint method, SslProtocols protocols)
    {
        var ctx = SSL_CTX_new(method);
        if (ctx == 0)
            throw new InvalidOperationException("OpenSSL: SSL_CTX_new failed: " + TakeErrors());
        var context = new SslContextHandle(ctx);
        var min = (protocols & SslProtocols.Tls12) != 0 ? TLS1_2_VERSION : TLS1_3_VERSION;
        var max = (protocols & SslProtocols.Tls13) != 0 ? TLS1_3_VERSION : TLS1_2_VERSION;
        SSL_CTX_ctrl(ctx, SSL_CTRL_SET_MIN_PROTO_VERSION, min, 0);
        SSL_CTX_ctrl(ctx, SSL_CTRL_SET_MAX_PROTO_VERSION, max, 0);
        // Record buffers are freed whenever they are empty: an idle connection holds none.
        SSL_CTX_ctrl(ctx, SSL_CTRL_MODE, (nint)SSL_MODE_RELEASE_BUFFERS, 0);
        SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
        return context;
    }

    private void UseCertificate(X509Certificate2 certificate, IEnumerable<X509Certificate2> chain, string option)
    {
        var x509 = ToNative(certificate, option);
        try
        {
            if (SSL_CTX_use_certificate(handle, x509) != 1)
                throw new TlsMaterialException($"option '{option}': OpenSSL refused the certificate: " + TakeErrors());
        }
        finally
        {
            X509_free(x509);
        }
        var key = ToNativeKey(certificate, option);
        try
        {
            if (SSL_CTX_use_PrivateKey(handle, key) != 1 || SSL_CTX_check_private_key(handle) != 1)
                throw new TlsMaterialException($"option '{option}': OpenSSL refused the private key: " + TakeErrors());
        }
        finally
        {
            EVP_PKEY_free(key);
        }
        foreach (var link in chain)
        {
            var native = ToNative(link, option);
            // SSL_CTX_add1_chain_cert takes its own reference.
            var ok = SSL_CTX_ctrl(handle, SSL_CTRL_CHAIN_CERT, 1, native);
            X509_free(native);
            if (ok != 1)
                throw new TlsMaterialException($"option '{option}': OpenSSL refused a chain certificate: " + TakeErrors());
        }
    }

    private static nint ToNative(X509Certificate2 certificate, string option)
    {
        var der = certificate.RawData;
        fixed (byte* p = der)
        {
            var cursor = p;
            var x509 = d2i_X509(null, &cursor, der.Length);
            return x509 != 0 ? x509 : throw new TlsMaterialException($"option '{option}': OpenSSL cannot read the certificate: " + TakeErrors());
        }
    }

    private static nint ToNativeKey(X509Certificate2 certificate, string option)
    {
        AsymmetricAlgorithm key = (AsymmetricAlgorithm?)certificate.GetECDsaPrivateKey() ?? (AsymmetricAlgorithm?)certificate.GetRSAPrivateKey()
            ?? throw new TlsMaterialException($"option '{option}': the private key is neither RSA nor ECDSA");
        byte[] pkcs8;
        using (key)
        {
            try
            {
                pkcs8 = key.ExportPkcs8PrivateKey();
            }
            catch (CryptographicException ex)
            {
                throw new TlsMaterialException($"option '{option}': the private key cannot be exported to OpenSSL: {ex.Message}");
            }
        }
        try
        {
            fixed (byte* p = pkcs8)
            {
                var cursor = p;
                var pkey = d2i_AutoPrivateKey(null, &cursor, pkcs8.Length);
                return pkey != 0 ? pkey : throw new TlsMaterialException($"option '{option}': OpenSSL cannot read the private key: " + TakeErrors());
            }
        }
        finally
        {
            CryptographicOperations.ZeroMemory(pkcs8);
        }
    }

    /// <summary>
    /// Each distinct ALPN list once per process, in native memory, never freed: its length, then the wire
    /// format (each name preceded by its length). A context (and a connection switched to it by SNI) may
    /// outlive the stage that made it, so the list its callback reads must not go away with either.
    /// </summary>
    private static readonly System.Collections.Concurrent.ConcurrentDictionary<string, nint> AlpnLists = new();

    private void SelectAlpn(IReadOnlyList<string> protocols)
    {
        var list = AlpnLists.GetOrAdd(string.Join("\n", protocols), _ =>
        {
            var names = protocols.Select(System.Text.Encoding.UTF8.GetBytes).ToArray();
            var length = names.Sum(n => n.Length + 1);
            var native = (byte*)NativeMemory.Alloc((nuint)(sizeof(uint) + length));
            *(uint*)native = (uint)length;
            var at = sizeof(uint);
            foreach (var name in names)
            {
                native[at++] = (byte)name.Length;
                name.CopyTo(new Span<byte>(native + at, name.Length));
                at += name.Length;
            }
            return (nint)native;
        });
        SSL_CTX_set_alpn_select_cb(handle, (nint)(delegate* unmanaged<nint, byte**, byte*, byte*, uint, nint, int>)&SelectProtocol, list);
    }

    [UnmanagedCallersOnly]
    private static int SelectProtocol(nint ssl, byte** selected, byte* selectedLength, byte* offered, uint offeredLength, nint ours)
    {
        // Server preference: the first of ours the client also offers. No overlap fails the handshake, as SslStream does.
        var list = (byte*)ours;
        var rc = SSL_select_next_proto(selected, selectedLength, list + sizeof(uint), *(uint*)list, offered, offeredLength);
        return rc == OPENSSL_NPN_NEGOTIATED ? SSL_TLSEXT_ERR_OK : SSL_TLSEXT_ERR_ALERT_FATAL;
    }

    [UnmanagedCallersOnly]
    private static int AcceptForLaterCheck(nint store, nint arg) => 1;

    protected override bool ReleaseHandle()
    {
        // Connections still using it hold OpenSSL references of their own: it is freed after the last of them.
        SSL_CTX_free(handle);
        return true;
    }
}
