using System.Runtime.InteropServices;

namespace Ferry.Transport.Tls.OpenSsl;

/// <summary>
/// The part of OpenSSL 3 (<c>libssl.so.3</c>, <c>libcrypto.so.3</c>) the epoll TLS engine calls directly.
/// The runtime's own SslStream uses the same libraries; calling them straight from the service thread saves
/// SslStream's per-call machinery and lets the engine own its buffers (docs/benchmarks.md, issue 11).
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
internal static unsafe partial class LibSsl
{
    private const string Ssl = "libssl.so.3";
    private const string Crypto = "libcrypto.so.3";

    /// <summary>Whether OpenSSL 3 can be loaded here (Linux with libssl.so.3): what the epoll transport's TLS needs.</summary>
    public static bool IsAvailable { get; } = OperatingSystem.IsLinux() && NativeLibrary.TryLoad(Ssl, out _) && NativeLibrary.TryLoad(Crypto, out _);

    public const int SSL_ERROR_NONE = 0;
    public const int SSL_ERROR_SSL = 1;
    public const int SSL_ERROR_WANT_READ = 2;
    public const int SSL_ERROR_WANT_WRITE = 3;
    public const int SSL_ERROR_SYSCALL = 5;
    public const int SSL_ERROR_ZERO_RETURN = 6;

    public const int SSL_CTRL_SET_TLSEXT_SERVERNAME_CB = 53;
    public const int SSL_CTRL_SET_TLSEXT_SERVERNAME_ARG = 54;
    public const int SSL_CTRL_MODE = 33;
    public const int SSL_CTRL_SET_READ_AHEAD = 41;
    public const int SSL_CTRL_SET_SESS_CACHE_MODE = 44;
    public const int SSL_CTRL_CHAIN_CERT = 89;
    public const int SSL_CTRL_SET_MIN_PROTO_VERSION = 123;
    public const int SSL_CTRL_SET_MAX_PROTO_VERSION = 124;

    public const long SSL_MODE_ENABLE_PARTIAL_WRITE = 0x1;
    public const long SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER = 0x2;
    public const long SSL_MODE_RELEASE_BUFFERS = 0x10;

    public const ulong SSL_OP_NO_RENEGOTIATION = 0x40000000;
    public const ulong SSL_OP_NO_COMPRESSION = 0x20000;

    public const int TLS1_2_VERSION = 0x0303;
    public const int TLS1_3_VERSION = 0x0304;

    public const int SSL_VERIFY_NONE = 0;
    public const int SSL_VERIFY_PEER = 1;
    public const int SSL_VERIFY_FAIL_IF_NO_PEER_CERT = 2;

    // X509_V_ERR_*: what a refused client certificate is told as; OpenSSL sends the matching alert (ssl_x509err2alert).
    public const int X509_V_ERR_CERT_NOT_YET_VALID = 9;        // bad_certificate
    public const int X509_V_ERR_CERT_HAS_EXPIRED = 10;         // certificate_expired
    public const int X509_V_ERR_CRL_NOT_YET_VALID = 11;        // bad_certificate (a CRL whose thisUpdate is after the clock)
    public const int X509_V_ERR_CRL_HAS_EXPIRED = 12;          // certificate_expired (as OpenSSL and nginx tell a CRL past its nextUpdate)
    public const int X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY = 20; // unknown_ca
    public const int X509_V_ERR_CERT_REVOKED = 23;             // certificate_revoked

    public const int SSL_TLSEXT_ERR_OK = 0;
    public const int SSL_TLSEXT_ERR_ALERT_FATAL = 2;
    public const int SSL_TLSEXT_ERR_NOACK = 3;
    public const int SSL_AD_UNRECOGNIZED_NAME = 112;
    public const int SSL_CLIENT_HELLO_SUCCESS = 1;
    public const int SSL_CLIENT_HELLO_ERROR = 0;
    public const uint TLSEXT_TYPE_server_name = 0;          // the alert for an SNI name the server does not serve
    public const int OPENSSL_NPN_NEGOTIATED = 1;

    public const int BIO_CTRL_FLUSH = 11;
    public const int BIO_CTRL_PENDING = 10;
    public const int BIO_CTRL_WPENDING = 13;
    public const int BIO_FLAGS_READ = 0x01;
    public const int BIO_FLAGS_WRITE = 0x02;
    public const int BIO_FLAGS_SHOULD_RETRY = 0x08;
    public const int BIO_TYPE_SOURCE_SINK = 0x0400;

    [LibraryImport(Ssl)] public static partial nint TLS_server_method();
    [LibraryImport(Ssl)] public static partial nint TLS_client_method();
    [LibraryImport(Ssl)] public static partial nint SSL_CTX_new(nint method);
    [LibraryImport(Ssl)] public static partial void SSL_CTX_free(nint ctx);
    [LibraryImport(Ssl)] public static partial nint SSL_CTX_ctrl(nint ctx, int cmd, nint larg, nint parg);
    [LibraryImport(Ssl)] public static partial nint SSL_CTX_callback_ctrl(nint ctx, int cmd, nint fp);
    [LibraryImport(Ssl)] public static partial ulong SSL_CTX_set_options(nint ctx, ulong options);
    [LibraryImport(Ssl)] public static partial int SSL_CTX_use_certificate(nint ctx, nint x509);
    [LibraryImport(Ssl)] public static partial int SSL_CTX_use_PrivateKey(nint ctx, nint pkey);
    [LibraryImport(Ssl)] public static partial int SSL_CTX_check_private_key(nint ctx);
    [LibraryImport(Ssl)] public static partial void SSL_CTX_set_verify(nint ctx, int mode, nint callback);
    [LibraryImport(Ssl)] public static partial void SSL_CTX_set_cert_verify_callback(nint ctx, nint callback, nint arg);
    [LibraryImport(Ssl)] public static partial void SSL_CTX_set_alpn_select_cb(nint ctx, nint callback, nint arg);
    [LibraryImport(Ssl)] public static partial int SSL_CTX_set_session_id_context(nint ctx, byte* context, uint length);
    [LibraryImport(Ssl)] public static partial int SSL_CTX_set_session_ticket_cb(nint ctx, nint generate, nint decrypt, nint arg);
    [LibraryImport(Ssl)] public static partial void SSL_CTX_set_client_hello_cb(nint ctx, nint callback, nint arg);
    [LibraryImport(Ssl)] public static partial int SSL_client_hello_get0_ext(nint ssl, uint type, byte** output, nuint* length);
    [LibraryImport(Ssl)] public static partial int SSL_CTX_set_alpn_protos(nint ctx, byte* protos, uint length);

    [LibraryImport(Ssl)] public static partial nint SSL_new(nint ctx);
    [LibraryImport(Ssl)] public static partial void SSL_free(nint ssl);
    [LibraryImport(Ssl)] public static partial nint SSL_ctrl(nint ssl, int cmd, nint larg, nint parg);
    [LibraryImport(Ssl)] public static partial void SSL_set_bio(nint ssl, nint rbio, nint wbio);
    [LibraryImport(Ssl)] public static partial void SSL_set_accept_state(nint ssl);
    [LibraryImport(Ssl)] public static partial void SSL_set_connect_state(nint ssl);
    [LibraryImport(Ssl)] public static partial int SSL_do_handshake(nint ssl);
    [LibraryImport(Ssl)] public static partial int SSL_read(nint ssl, byte* buffer, int length);
    [LibraryImport(Ssl)] public static partial int SSL_write(nint ssl, byte* buffer, int length);
    [LibraryImport(Ssl)] public static partial int SSL_pending(nint ssl);
    [LibraryImport(Ssl)] public static partial int SSL_get_error(nint ssl, int ret);
    [LibraryImport(Ssl)] public static partial int SSL_shutdown(nint ssl);
    [LibraryImport(Ssl)] public static partial int SSL_key_update(nint ssl, int updateType);
    [LibraryImport(Ssl)] public static partial int SSL_free_buffers(nint ssl);
    [LibraryImport(Ssl)] public static partial nint SSL_get_version(nint ssl);
    [LibraryImport(Ssl)] public static partial nint SSL_get_current_cipher(nint ssl);
    [LibraryImport(Ssl)] public static partial nint SSL_CIPHER_standard_name(nint cipher);
    [LibraryImport(Ssl)] public static partial nint SSL_get_servername(nint ssl, int type);
    [LibraryImport(Ssl)] public static partial void SSL_get0_alpn_selected(nint ssl, byte** data, uint* length);
    [LibraryImport(Ssl)] public static partial nint SSL_get1_peer_certificate(nint ssl);
    [LibraryImport(Ssl)] public static partial nint SSL_get_peer_cert_chain(nint ssl);
    [LibraryImport(Ssl)] public static partial int SSL_session_reused(nint ssl);
    [LibraryImport(Ssl)] public static partial nint SSL_get_session(nint ssl);
    [LibraryImport(Ssl)] public static partial int SSL_SESSION_set1_ticket_appdata(nint session, byte* data, nuint length);
    [LibraryImport(Ssl)] public static partial int SSL_SESSION_get0_ticket_appdata(nint session, byte** data, nuint* length);
    [LibraryImport(Ssl)] public static partial nint SSL_set_SSL_CTX(nint ssl, nint ctx);
    [LibraryImport(Ssl)] public static partial int SSL_set_ex_data(nint ssl, int index, nint data);
    [LibraryImport(Ssl)] public static partial nint SSL_get_ex_data(nint ssl, int index);
    [LibraryImport(Ssl)] public static partial int SSL_select_next_proto(byte** output, byte* outputLength, byte* server, uint serverLength, byte* client, uint clientLength);

    [LibraryImport(Crypto)] public static partial nint BIO_meth_new(int type, byte* name);
    [LibraryImport(Crypto)] public static partial int BIO_meth_set_write_ex(nint method, nint callback);
    [LibraryImport(Crypto)] public static partial int BIO_meth_set_read_ex(nint method, nint callback);
    [LibraryImport(Crypto)] public static partial int BIO_meth_set_ctrl(nint method, nint callback);
    [LibraryImport(Crypto)] public static partial int BIO_meth_set_create(nint method, nint callback);
    [LibraryImport(Crypto)] public static partial nint BIO_new(nint method);
    [LibraryImport(Crypto)] public static partial void BIO_set_data(nint bio, nint data);
    [LibraryImport(Crypto)] public static partial nint BIO_get_data(nint bio);
    [LibraryImport(Crypto)] public static partial void BIO_set_init(nint bio, int init);
    [LibraryImport(Crypto)] public static partial void BIO_set_flags(nint bio, int flags);
    [LibraryImport(Crypto)] public static partial void BIO_clear_flags(nint bio, int flags);
    [LibraryImport(Crypto)] public static partial int BIO_up_ref(nint bio);

    [LibraryImport(Crypto)] public static partial nint d2i_X509(nint* output, byte** input, nint length);
    [LibraryImport(Crypto)] public static partial int i2d_X509(nint x509, byte** output);
    [LibraryImport(Crypto)] public static partial void X509_free(nint x509);
    [LibraryImport(Crypto)] public static partial nint d2i_AutoPrivateKey(nint* output, byte** input, nint length);
    [LibraryImport(Crypto)] public static partial void EVP_PKEY_free(nint pkey);
    [LibraryImport(Crypto)] public static partial nint X509_STORE_CTX_get0_cert(nint store);
    [LibraryImport(Crypto)] public static partial nint X509_STORE_CTX_get0_untrusted(nint store);
    [LibraryImport(Crypto)] public static partial void X509_STORE_CTX_set_error(nint store, int error);
    [LibraryImport(Crypto)] public static partial nint X509_STORE_CTX_get_ex_data(nint store, int index);
    [LibraryImport(Ssl)] public static partial int SSL_get_ex_data_X509_STORE_CTX_idx();
    [LibraryImport(Crypto)] public static partial int CRYPTO_get_ex_new_index(int classIndex, nint argl, nint argp, nint newFunc, nint dupFunc, nint freeFunc);
    [LibraryImport(Crypto)] public static partial int OPENSSL_sk_num(nint stack);
    [LibraryImport(Crypto)] public static partial nint OPENSSL_sk_value(nint stack, int index);

    [LibraryImport(Crypto)] public static partial ulong ERR_get_error();
    [LibraryImport(Crypto)] public static partial void ERR_clear_error();
    [LibraryImport(Crypto)] public static partial void ERR_error_string_n(ulong error, byte* buffer, nuint length);

    /// <summary>The oldest queued OpenSSL error in words (empty when none), and the queue cleared.</summary>
    public static string TakeErrors()
    {
        var first = ERR_get_error();
        ERR_clear_error();
        if (first == 0)
            return "";
        var text = stackalloc byte[256];
        ERR_error_string_n(first, text, 256);
        return Marshal.PtrToStringUTF8((nint)text) ?? "";
    }
}
