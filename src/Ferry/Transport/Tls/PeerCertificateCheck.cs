using System.Net.Security;
using System.Security.Cryptography.X509Certificates;

namespace Ferry.Transport.Tls;

/// <summary>
/// Validates a peer's certificate against a CA bundle (or the system's store) and says why it is refused,
/// in the words the stage reports: <c>no client certificate</c>, <c>expired</c>, <c>not yet valid</c> (its validity
/// begins after the stage's clock: a clock set wrong at either end), <c>untrusted</c>, <c>revoked</c> (in the CRL),
/// <c>name mismatch</c>; a certificate whose issuer's CRL is past its nextUpdate is <see cref="RevocationListExpired"/>, one
/// whose issuer's CRL begins after the stage clock (its thisUpdate) <see cref="RevocationListNotYetValid"/>.
/// </summary>
/// <remarks>
/// With <c>acceptInvalid</c> (a server's <c>accept_invalid_certificates</c>, development only) the chain and the validity
/// dates are not held against the certificate: a self-signed, untrusted, expired or not yet valid one is accepted. What
/// still refuses it: a required certificate not sent (accepting any certificate is not accepting none), and a CRL that lists
/// it (a revocation is an operator's explicit word about that very certificate, not a check that failed; a list past its
/// nextUpdate is a validity problem of the list and is waived with the rest).
/// </remarks>
internal sealed class PeerCertificateCheck(X509Certificate2Collection? cas, TimeProvider time, ReloadingRevocationList? revocations = null,
    bool acceptInvalid = false)
{
    /// <summary>
    /// How a refusal for a CRL past its nextUpdate begins: an "untrusted" reason (the chain's status .NET would give,
    /// RevocationStatusUnknown), so it is counted and tagged with the other untrusted ones; epoll sends the alert OpenSSL
    /// sends for X509_V_ERR_CRL_HAS_EXPIRED (certificate_expired).
    /// </summary>
    public const string RevocationListExpired = "untrusted (RevocationStatusUnknown)";

    /// <summary>
    /// How a refusal for a CRL not yet valid (its thisUpdate after the stage clock) begins: untrusted as well, as for one past
    /// its nextUpdate; epoll sends the alert OpenSSL sends for X509_V_ERR_CRL_NOT_YET_VALID (bad_certificate).
    /// </summary>
    public const string RevocationListNotYetValid = RevocationListExpired + ": the certificate revocation list is not yet valid";

    /// <summary>Null when the certificate is acceptable, else the reason.</summary>
    public string? Check(X509Certificate? certificate, X509Chain? chain, SslPolicyErrors errors, bool required, bool checkName)
    {
        if (certificate is null)
            return required ? "no client certificate" : null;
        if (checkName && (errors & SslPolicyErrors.RemoteCertificateNameMismatch) != 0)
            return "name mismatch";
        // A copy made here is ours to release; the caller's certificate stays the caller's.
        using var copy = certificate is X509Certificate2 ? null : X509CertificateLoader.LoadCertificate(certificate.GetRawCertData());
        return CheckPeer(copy ?? (X509Certificate2)certificate, chain, errors);
    }

    private string? CheckPeer(X509Certificate2 peer, X509Chain? chain, SslPolicyErrors errors)
    {
        if (acceptInvalid)
            return revocations is not null && revocations.Current.Revokes(peer) ? "revoked" : null;
        var now = time.GetUtcNow().UtcDateTime;
        if (now > peer.NotAfter.ToUniversalTime())
            return "expired";
        // Not "expired": the operator looks for a wrong clock here, not for a certificate to renew.
        if (now < peer.NotBefore.ToUniversalTime())
            return "not yet valid";
        if (cas is null)
            return (errors & SslPolicyErrors.RemoteCertificateChainErrors) != 0 ? Untrusted(chain) : null;
        using var custom = new X509Chain();
        custom.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        custom.ChainPolicy.CustomTrustStore.AddRange(cas);
        custom.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        custom.ChainPolicy.VerificationTime = now;
        if (chain is not null)
            foreach (var element in chain.ChainElements)
                if (!element.Certificate.Equals(peer))
                    custom.ChainPolicy.ExtraStore.Add(element.Certificate);
        try
        {
            if (!custom.Build(peer))
                return Untrusted(custom);
        }
        finally
        {
            ChainCertificates.ReleaseElements(custom);
        }
        if (revocations is null)
            return null;
        var list = revocations.Current;
        if (list.Revokes(peer))
            return "revoked";
        // A list that begins after now (a clock set wrong at either end, or a wrong file) cannot be believed either: refused,
        // as OpenSSL does (X509_V_ERR_CRL_NOT_YET_VALID), until the stage clock reaches its thisUpdate.
        if (list.Covers(peer) && list.NotYetValidAt(now))
        {
            revocations.TellNotYetValid(list, now);
            return $"{RevocationListNotYetValid}: {revocations.Source} begins at {list.ThisUpdate:u} (its thisUpdate), the stage clock says {now:u}";
        }
        // A list past its nextUpdate cannot say the certificate was not revoked since: refused, as OpenSSL and nginx do.
        if (list.Covers(peer) && list.ExpiredAt(now))
        {
            revocations.TellExpired(list, now);
            return $"{RevocationListExpired}: the certificate revocation list {revocations.Source} expired at {list.NextUpdate:u} (its nextUpdate, by the stage clock)";
        }
        if (list.Covers(peer))
            revocations.TellValid(list);
        return null;
    }

    private static string Untrusted(X509Chain? chain)
    {
        var status = chain?.ChainStatus.Select(s => s.Status).Where(s => s != X509ChainStatusFlags.NoError).Distinct().ToArray() ?? [];
        return status.Length == 0 ? "untrusted" : $"untrusted ({string.Join(", ", status)})";
    }
}
