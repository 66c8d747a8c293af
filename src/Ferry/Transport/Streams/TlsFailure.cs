using System.Security.Authentication;

namespace Ferry.Transport.Streams;

/// <summary>Words for a failed TLS handshake, as a disconnect detail.</summary>
internal static class TlsFailure
{
    /// <summary>How the detail of a failed handshake begins (after the stage's own check words, which come alone).</summary>
    public const string HandshakeFailed = "tls handshake failed: ";

    /// <summary>How the detail of a TLS failure on a session whose handshake had finished begins (an alert read, a record that does not decrypt).</summary>
    public const string SessionFailed = "tls error: ";

    public static string Describe(Exception ex) => ex switch
    {
        TlsRejectedException rejected => rejected.Message,
        AuthenticationException { InnerException: TlsRejectedException rejected } => rejected.Message,
        // SslStream's own words are "Authentication failed, see inner exception.": the operator never sees that
        // exception, so its innermost cause (OpenSSL's reason, the socket's error) is the detail.
        AuthenticationException { InnerException: { } inner } => HandshakeFailed + Cause(inner),
        AuthenticationException auth => HandshakeFailed + auth.Message,
        _ => HandshakeFailed + StreamErrors.Describe(ex),
    };

    /// <summary>
    /// A session's TLS failure (<see cref="SessionFailed"/>) said as the failed handshake it turned out to be: a TLS 1.3 server's
    /// alert refusing the client's certificate arrives after the client's handshake finished, and reads then as
    /// <c>tls handshake failed: …</c>, the words the same refusal has under TLS 1.2.
    /// </summary>
    public static string AsHandshakeFailure(string? detail) => detail switch
    {
        null => HandshakeFailed + "refused",
        _ when detail.StartsWith(SessionFailed, StringComparison.Ordinal) => HandshakeFailed + detail[SessionFailed.Length..],
        _ => HandshakeFailed + detail,
    };

    /// <summary>
    /// The innermost cause of a TLS failure in words: OpenSSL's reason (SslStream's own messages say "see inner
    /// exception", and the operator never sees that exception), or the socket's error in errno words.
    /// </summary>
    public static string Cause(Exception ex) => StreamErrors.Describe(Innermost(ex));

    /// <summary>
    /// Whether OpenSSL failed <paramref name="ex"/> on a certificate's signature that does not verify: ASN.1's "EVP lib"
    /// error (OpenSSL 3: <c>error:06880006:asn1 encoding routines::EVP lib</c>; 1.1: <c>…:asn1 encoding routines:ASN1_item_verify:EVP lib</c>).
    /// </summary>
    public static bool IsSignatureCheckFailure(Exception ex)
    {
        var words = Innermost(ex).Message;
        return words.StartsWith("error:", StringComparison.Ordinal) && words.Contains(":asn1 encoding routines:", StringComparison.Ordinal)
            && words.EndsWith(":EVP lib", StringComparison.Ordinal);
    }

    private static Exception Innermost(Exception ex)
    {
        while (ex.InnerException is { } inner)
            ex = inner;
        return ex;
    }
}

/// <summary>A handshake refused by the stage's own certificate checks, with the reason to report and the client certificate refused.</summary>
internal sealed class TlsRejectedException(string reason, Exception? inner = null, Ferry.Transport.Tls.RefusedClientCertificate? certificate = null)
    : AuthenticationException(reason, inner)
{
    /// <summary>The client certificate refused (a server's mutual TLS check), null for other refusals.</summary>
    public Ferry.Transport.Tls.RefusedClientCertificate? Certificate { get; } = certificate;

    /// <summary>The refusal in <paramref name="ex"/> (itself or its inner exception), or null.</summary>
    public static TlsRejectedException? In(Exception ex) => ex as TlsRejectedException ?? ex.InnerException as TlsRejectedException;
}
