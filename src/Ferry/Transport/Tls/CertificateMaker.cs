using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Ferry.Transport.Tls;

/// <summary>
/// Makes the certificates a TLS setup needs, with <see cref="System.Security.Cryptography"/> only (no
/// openssl binary): a CA, server and client certificates signed by it, self-signed ones. ECDSA P-256
/// keys: small, fast to make and to handshake with. Used by <c>ferry cert</c> and by the tests.
/// </summary>
public static class CertificateMaker
{
    /// <summary>A certificate authority (self-signed, may sign certificates), valid from <paramref name="notBefore"/> (now by default) for <paramref name="validity"/>.</summary>
    public static X509Certificate2 CreateAuthority(string subject, TimeSpan validity, DateTimeOffset? notBefore = null)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest(Name(subject), key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        var from = notBefore ?? DateTimeOffset.UtcNow.AddMinutes(-5);
        return request.CreateSelfSigned(from, from.Add(validity));
    }

    /// <summary>A server certificate for <paramref name="names"/> (DNS names and IP addresses, as subject alternative names).</summary>
    public static X509Certificate2 CreateServer(X509Certificate2? issuer, IReadOnlyList<string> names, DateTimeOffset notBefore, DateTimeOffset notAfter)
        => Create(issuer, names.Count > 0 ? names[0] : "localhost", names, serverAuth: true, notBefore, notAfter);

    /// <summary>A client certificate (mutual TLS) with the common name <paramref name="subject"/>.</summary>
    public static X509Certificate2 CreateClient(X509Certificate2? issuer, string subject, DateTimeOffset notBefore, DateTimeOffset notAfter)
        => Create(issuer, subject, [], serverAuth: false, notBefore, notAfter);

    /// <summary>
    /// A certificate revocation list signed by <paramref name="issuer"/> (a CA with its private key) that
    /// revokes <paramref name="revoked"/> on top of what <paramref name="existingPem"/> (an earlier list of
    /// the same CA, or null) revoked; its number is one more than the earlier list's. PEM (<c>X509 CRL</c>).
    /// </summary>
    public static string CreateRevocationList(X509Certificate2 issuer, IEnumerable<X509Certificate2> revoked, string? existingPem, DateTimeOffset nextUpdate)
    {
        var builder = new CertificateRevocationListBuilder();
        var number = System.Numerics.BigInteger.Zero;
        if (existingPem is not null)
            builder = CertificateRevocationListBuilder.LoadPem(existingPem, out number);
        var now = DateTimeOffset.UtcNow;
        foreach (var certificate in revoked)
            builder.AddEntry(certificate, now, X509RevocationReason.KeyCompromise);
        var der = builder.Build(issuer, number + 1, nextUpdate, HashAlgorithmName.SHA256, issuer.GetRSAPrivateKey() is null ? null : RSASignaturePadding.Pkcs1, now);
        return PemEncoding.WriteString("X509 CRL", der);
    }

    /// <summary>The certificate and its private key as PEM text.</summary>
    public static (string CertificatePem, string PrivateKeyPem) ToPem(X509Certificate2 certificate)
    {
        var key = certificate.GetECDsaPrivateKey() ?? throw new ArgumentException("the certificate has no ECDSA private key", nameof(certificate));
        return (certificate.ExportCertificatePem(), key.ExportPkcs8PrivateKeyPem());
    }

    private static X509Certificate2 Create(X509Certificate2? issuer, string subject, IReadOnlyList<string> names, bool serverAuth, DateTimeOffset notBefore, DateTimeOffset notAfter)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest(Name(subject), key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
        var usage = serverAuth ? "1.3.6.1.5.5.7.3.1" : "1.3.6.1.5.5.7.3.2";
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid(usage)], false));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        if (names.Count > 0)
        {
            var san = new SubjectAlternativeNameBuilder();
            foreach (var name in names)
            {
                if (IPAddress.TryParse(name, out var ip))
                    san.AddIpAddress(ip);
                else
                    san.AddDnsName(name);
            }
            request.CertificateExtensions.Add(san.Build());
        }
        if (issuer is null)
            return request.CreateSelfSigned(notBefore, notAfter);
        // A certificate may not outlive its issuer.
        if (notAfter > issuer.NotAfter)
            notAfter = issuer.NotAfter;
        var serial = RandomNumberGenerator.GetBytes(16);
        serial[0] &= 0x7F;
        using var signed = request.Create(issuer, notBefore, notAfter, serial);
        return signed.CopyWithPrivateKey(key);
    }

    private static X500DistinguishedName Name(string subject) => new(subject.Contains('=') ? subject : "CN=" + subject);
}
