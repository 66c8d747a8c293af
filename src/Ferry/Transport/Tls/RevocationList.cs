using System.Formats.Asn1;
using System.Numerics;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Ferry.Transport.Tls;

/// <summary>
/// A certificate revocation list (X.509 CRL, PEM or DER) as read: its issuer, the serial numbers it revokes and when
/// it stops being current (nextUpdate). A list whose file changes is read again by <see cref="ReloadingRevocationList"/>. It is believed only when its signature verifies with a certificate of the CA bundle, so
/// a CRL from the wrong CA is an options error, not a list that silently revokes nothing.
/// </summary>
internal sealed class RevocationList
{
    private readonly HashSet<BigInteger> _revoked;

    private RevocationList(X500DistinguishedName issuer, HashSet<BigInteger> revoked, DateTime thisUpdate, DateTime? nextUpdate)
    {
        Issuer = issuer;
        _revoked = revoked;
        ThisUpdate = thisUpdate;
        NextUpdate = nextUpdate;
    }

    /// <summary>
    /// When the list was issued (UTC): before it, by the stage clock, the list is not yet valid (a clock set wrong here or
    /// where it was made, or a wrong file), so it speaks for nobody and its issuer's certificates are refused
    /// (<see cref="PeerCertificateCheck"/>), as OpenSSL refuses with <c>X509_V_ERR_CRL_NOT_YET_VALID</c>.
    /// </summary>
    public DateTime ThisUpdate { get; }

    /// <summary>Whether <paramref name="utcNow"/> is before the list's thisUpdate.</summary>
    public bool NotYetValidAt(DateTime utcNow) => utcNow < ThisUpdate;

    /// <summary>
    /// When the list stops being current (UTC), null when it does not say: past it, a certificate absent from it may
    /// have been revoked since, so its issuer's certificates are refused (<see cref="PeerCertificateCheck"/>).
    /// </summary>
    public DateTime? NextUpdate { get; }

    /// <summary>Whether the list is past its nextUpdate at <paramref name="utcNow"/>.</summary>
    public bool ExpiredAt(DateTime utcNow) => NextUpdate is { } next && utcNow > next;

    /// <summary>Whether <paramref name="certificate"/> was issued by this list's issuer (so the list speaks for it).</summary>
    public bool Covers(X509Certificate2 certificate) => certificate.IssuerName.RawData.AsSpan().SequenceEqual(Issuer.RawData);

    /// <summary>Who signed the list: only certificates of this issuer can be found in it.</summary>
    public X500DistinguishedName Issuer { get; }

    /// <summary>How many certificates it revokes.</summary>
    public int Count => _revoked.Count;

    /// <summary>Whether <paramref name="certificate"/> (issued by this list's issuer) is revoked.</summary>
    public bool Revokes(X509Certificate2 certificate) =>
        Covers(certificate) &&
        _revoked.Contains(new BigInteger(certificate.SerialNumberBytes.Span, isUnsigned: false, isBigEndian: true));

    /// <summary>Loads a CRL from PEM text or a file and checks it is signed by a CA of <paramref name="cas"/>; null when none is given.</summary>
    /// <exception cref="TlsMaterialException">It cannot be read, parsed, or is not signed by one of the CAs.</exception>
    public static RevocationList? Load(string? pem, string? file, X509Certificate2Collection? cas)
    {
        if (pem is null && file is null)
            return null;
        const string option = "tls.certificate_revocation_list";
        byte[] der;
        try
        {
            var text = pem ?? TlsFile.ReadText(file!);
            der = PemEncoding.TryFind(text, out var found) && text[found.Label] == "X509 CRL"
                ? Convert.FromBase64String(text[found.Base64Data])
                : throw new TlsMaterialException($"option '{option}': no '-----BEGIN X509 CRL-----' block found");
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or FormatException)
        {
            throw new TlsMaterialException($"option '{option}': cannot read '{file ?? "the PEM text"}': {(file is null || ex is FormatException ? ex.Message : Ferry.Stages.Internal.UnreadableFile.Why(file, ex))}");
        }
        if (cas is null)
            throw new TlsMaterialException($"option '{option}': needs the CA bundle ({Ferry.Stages.StageOptionsException.Mark("tls.ca_certificate_pem")} or {Ferry.Stages.StageOptionsException.Mark("tls.ca_certificate_file")}) whose CRL it is");
        try
        {
            return Parse(der, cas);
        }
        catch (AsnContentException ex)
        {
            throw new TlsMaterialException($"option '{option}': not an X.509 CRL: {ex.Message}");
        }
        catch (CryptographicException ex)
        {
            throw new TlsMaterialException($"option '{option}': its signature cannot be checked: {ex.Message}");
        }
    }

    // CertificateList ::= SEQUENCE { tbsCertList TBSCertList, signatureAlgorithm AlgorithmIdentifier, signatureValue BIT STRING }
    // TBSCertList ::= SEQUENCE { version INTEGER OPTIONAL, signature AlgorithmIdentifier, issuer Name, thisUpdate Time,
    //     nextUpdate Time OPTIONAL, revokedCertificates SEQUENCE OF SEQUENCE { userCertificate INTEGER, ... } OPTIONAL,
    //     crlExtensions [0] EXPLICIT Extensions OPTIONAL }  (RFC 5280, 5.1)
    private static RevocationList Parse(byte[] der, X509Certificate2Collection cas)
    {
        var outer = new AsnReader(der, AsnEncodingRules.DER).ReadSequence();
        var tbsBytes = outer.ReadEncodedValue();
        var algorithm = outer.ReadSequence().ReadObjectIdentifier();
        var signature = outer.ReadBitString(out _);

        var tbs = new AsnReader(tbsBytes, AsnEncodingRules.DER).ReadSequence();
        if (tbs.PeekTag().HasSameClassAndValue(Asn1Tag.Integer))
            tbs.ReadInteger();
        tbs.ReadSequence();
        var issuer = new X500DistinguishedName(tbs.ReadEncodedValue().Span);
        var thisUpdate = ReadTime(tbs) ?? throw new AsnContentException("thisUpdate is not a UTCTime or GeneralizedTime");
        var nextUpdate = ReadTime(tbs);
        var revoked = new HashSet<BigInteger>();
        if (tbs.HasData && tbs.PeekTag().HasSameClassAndValue(Asn1Tag.Sequence))
        {
            var entries = tbs.ReadSequence();
            while (entries.HasData)
                revoked.Add(entries.ReadSequence().ReadInteger());
        }

        var signer = cas.FirstOrDefault(ca => ca.SubjectName.RawData.AsSpan().SequenceEqual(issuer.RawData))
            ?? throw new TlsMaterialException($"option 'tls.certificate_revocation_list': issued by '{issuer.Name}', which is not in the CA bundle");
        if (!Verifies(signer, algorithm, tbsBytes.Span, signature))
            throw new TlsMaterialException($"option 'tls.certificate_revocation_list': its signature does not verify with the CA '{signer.Subject}'");
        return new RevocationList(issuer, revoked, thisUpdate, nextUpdate);
    }

    /// <summary>A Time (UTCTime or GeneralizedTime) when one comes next, else null (nothing read).</summary>
    private static DateTime? ReadTime(AsnReader reader)
    {
        if (reader.HasData && reader.PeekTag().HasSameClassAndValue(Asn1Tag.UtcTime))
            return reader.ReadUtcTime().UtcDateTime;
        if (reader.HasData && reader.PeekTag().HasSameClassAndValue(Asn1Tag.GeneralizedTime))
            return reader.ReadGeneralizedTime().UtcDateTime;
        return null;
    }

    private static bool Verifies(X509Certificate2 ca, string algorithm, ReadOnlySpan<byte> signed, byte[] signature)
    {
        var hash = algorithm switch
        {
            "1.2.840.10045.4.3.2" or "1.2.840.113549.1.1.11" => HashAlgorithmName.SHA256,
            "1.2.840.10045.4.3.3" or "1.2.840.113549.1.1.12" => HashAlgorithmName.SHA384,
            "1.2.840.10045.4.3.4" or "1.2.840.113549.1.1.13" => HashAlgorithmName.SHA512,
            _ => throw new TlsMaterialException($"option 'tls.certificate_revocation_list': signature algorithm {algorithm} is not supported; use ECDSA or RSA with SHA-256/384/512"),
        };
        if (ca.GetECDsaPublicKey() is { } ecdsa)
            using (ecdsa)
                return ecdsa.VerifyData(signed, signature, hash, DSASignatureFormat.Rfc3279DerSequence);
        if (ca.GetRSAPublicKey() is { } rsa)
            using (rsa)
                return rsa.VerifyData(signed, signature, hash, RSASignaturePadding.Pkcs1);
        throw new TlsMaterialException($"option 'tls.certificate_revocation_list': the CA '{ca.Subject}' has neither an ECDSA nor an RSA key");
    }
}
