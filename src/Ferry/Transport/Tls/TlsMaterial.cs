using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Ferry.Stages;

namespace Ferry.Transport.Tls;

/// <summary>Loads certificates, keys and CA bundles from PEM text or files, with errors that name the option.</summary>
internal static class TlsMaterial
{
    /// <summary>The key of the stage's own certificate; an SNI certificate's is <see cref="SniKey"/>.</summary>
    public const string CertificateKey = "tls.certificate";

    /// <summary>
    /// The key of the SNI certificate for <paramref name="serverName"/>, as written (the dictionary's key, as the options'
    /// validation names it): a problem with its files is told there, <c>Tls.SniCertificates["api.example.com"].CertificateFile</c>
    /// in code, not at the default certificate's key.
    /// </summary>
    public static string SniKey(string serverName) => $"tls.sni_certificates.{serverName}";

    /// <summary>
    /// The certificate with its private key, and the rest of its chain (the intermediates after it in the PEM). A problem
    /// names the option at <paramref name="key"/> (<see cref="CertificateKey"/>, or <see cref="SniKey"/> for an SNI certificate).
    /// </summary>
    public static (X509Certificate2 Certificate, X509Certificate2Collection Chain) LoadCertificate(TlsCertificate source, string key = CertificateKey)
    {
        if (source.Pkcs12File is { } pkcs12)
            return LoadPkcs12(pkcs12, source.Pkcs12Password, key);
        var certificatePem = source.CertificatePem ?? Read(source.CertificateFile!, key + ".certificate_file");
        var keyPem = source.PrivateKeyPem ?? Read(source.PrivateKeyFile!, key + ".private_key_file");
        X509Certificate2 certificate;
        try
        {
            certificate = X509Certificate2.CreateFromPem(certificatePem, keyPem);
        }
        catch (CryptographicException ex)
        {
            throw new TlsMaterialException($"option '{key}': the certificate and private key cannot be used: {ex.Message}");
        }
        catch (ArgumentException ex)
        {
            // The runtime says "the provided key does not match" with an ArgumentException, not a CryptographicException:
            // a pair caught mid-rotation (the new certificate written, the old key still there) is this, and it must be
            // refused as bad material like any other, never escape to the caller (the service loop, on a reload).
            throw new TlsMaterialException($"option '{key}': the private key does not match the certificate{SubjectOf(certificatePem)}; "
                + $"give the private key the certificate was issued for ({ex.Message})");
        }
        if (OperatingSystem.IsWindows())
        {
            // SChannel cannot use an ephemeral PEM key for a server: re-import it as PKCS#12.
            using var ephemeral = certificate;
            certificate = X509CertificateLoader.LoadPkcs12(ephemeral.Export(X509ContentType.Pkcs12), null);
        }
        var chain = new X509Certificate2Collection();
        chain.ImportFromPem(certificatePem);
        // The first one is the certificate itself; the rest is its chain.
        var rest = new X509Certificate2Collection();
        for (var i = 1; i < chain.Count; i++)
            rest.Add(chain[i]);
        return (certificate, rest);
    }

    private static (X509Certificate2, X509Certificate2Collection) LoadPkcs12(string path, string? password, string key)
    {
        X509Certificate2Collection all;
        try
        {
            all = X509CertificateLoader.LoadPkcs12Collection(TlsFile.ReadBytes(path), password);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new TlsMaterialException($"option '{key}.pkcs12_file': cannot read '{path}': {Ferry.Stages.Internal.UnreadableFile.Why(path, ex)}");
        }
        catch (CryptographicException ex)
        {
            throw new TlsMaterialException($"option '{key}.pkcs12_file': cannot load '{path}' as PKCS#12 (a wrong password, or not a PKCS#12 file): {ex.Message}");
        }
        var own = all.FirstOrDefault(c => c.HasPrivateKey)
            ?? throw new TlsMaterialException($"option '{key}.pkcs12_file': '{path}' holds no certificate with a private key");
        var chain = new X509Certificate2Collection();
        foreach (var c in all)
            if (!ReferenceEquals(c, own))
                chain.Add(c);
        return (own, chain);
    }

    /// <summary>" (subject CN=…)" of the first certificate in <paramref name="pem"/>, or nothing when it cannot be read.</summary>
    private static string SubjectOf(string pem)
    {
        try
        {
            using var certificate = X509Certificate2.CreateFromPem(pem);
            return $" (subject {certificate.Subject})";
        }
        catch (CryptographicException)
        {
            return "";
        }
    }

    /// <summary>CA certificates from PEM text or a file; null when neither is given (the system's store is used).</summary>
    public static X509Certificate2Collection? LoadCas(string? pem, string? file)
    {
        if (pem is null && file is null)
            return null;
        // The problem is told at the option the caller set: the file's, with its path, when the bundle came from a file.
        var (option, what) = pem is null ? ("tls.ca_certificate_file", $"'{file}'") : ("tls.ca_certificate_pem", "the PEM text");
        pem ??= Read(file!, option);
        var cas = new X509Certificate2Collection();
        try
        {
            cas.ImportFromPem(pem);
        }
        catch (CryptographicException ex)
        {
            throw new TlsMaterialException($"option '{option}': {what} holds no valid PEM certificates: {ex.Message}");
        }
        if (cas.Count == 0)
            throw new TlsMaterialException($"option '{option}': no '-----BEGIN CERTIFICATE-----' block found in {what}");
        return cas;
    }

    private static string Read(string path, string option)
    {
        try
        {
            return TlsFile.ReadText(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new TlsMaterialException($"option '{option}': cannot read '{path}': {Ferry.Stages.Internal.UnreadableFile.Why(path, ex)}");
        }
    }
}

/// <summary>A certificate, key or CA bundle that cannot be loaded; the message names the option.</summary>
internal sealed class TlsMaterialException(string message) : Exception(message);
