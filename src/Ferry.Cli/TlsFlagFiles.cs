using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Ferry.Stages;
using Ferry.Hosting.Settings;

namespace Ferry.Cli;

/// <summary>
/// Checks the files the TLS flags name before anything is built or bound: each can be read, holds the PEM it
/// should, and the key belongs to the certificate. The stage would find the same faults only when it is
/// constructed, as an exception whose message names a file-config key (<c>tls.ca_certificate_pem</c>) rather than
/// the flag the user typed; here each fault is one line that names the flag, the file and what is wrong.
/// </summary>
internal static class TlsFlagFiles
{
    /// <summary>Checks every file <paramref name="tls"/> names.</summary>
    /// <exception cref="CliException">A file that cannot be read, is not the PEM it should be, or a key that does not fit.</exception>
    public static void Check(TlsOptions tls)
    {
        if (tls.Certificate is { CertificateFile: { } certFile, PrivateKeyFile: { } keyFile })
            CheckCertificate(certFile, keyFile);
        if (tls.CaCertificateFile is { } caFile && !PemText.HoldsCertificates(Read("--tls-ca", caFile)))
            throw new CliException($"--tls-ca '{caFile}' holds no PEM certificate (expected -----BEGIN CERTIFICATE----- blocks)");
        if (tls.CertificateRevocationListFile is { } crlFile && !Read("--tls-crl", crlFile).Contains("-----BEGIN X509 CRL-----", StringComparison.Ordinal))
            throw new CliException($"--tls-crl '{crlFile}' holds no PEM CRL (expected a -----BEGIN X509 CRL----- block, as 'ferry cert crl' writes)");
    }

    /// <summary>
    /// What a stage's constructor said about the TLS material (a fault only loading can find, such as a CRL signed by another CA),
    /// with the file-config key it names replaced by the flag and its file.
    /// </summary>
    public static string Describe(string message, TlsOptions? tls)
    {
        if (tls is null)
            return message;
        // Longest keys first: 'tls.certificate' is a prefix of the others.
        (string Key, string Flag, string? File)[] keys =
        [
            ("tls.certificate_revocation_list", "--tls-crl", tls.CertificateRevocationListFile),
            ("tls.certificate.certificate_file", "--tls-cert", tls.Certificate?.CertificateFile),
            ("tls.certificate.private_key_file", "--tls-key", tls.Certificate?.PrivateKeyFile),
            ("tls.ca_certificate_file", "--tls-ca", tls.CaCertificateFile),
            ("tls.ca_certificate_pem", "--tls-ca", tls.CaCertificateFile),
            ("tls.certificate", "--tls-cert", tls.Certificate?.CertificateFile),
        ];
        foreach (var (key, flag, file) in keys)
        {
            var quoted = $"option '{key}'";
            if (message.StartsWith(quoted, StringComparison.Ordinal))
                return (file is null ? flag : $"{flag} '{file}'") + message[quoted.Length..];
        }
        return message;
    }

    private static void CheckCertificate(string certFile, string keyFile)
    {
        var certificatePem = Read("--tls-cert", certFile);
        var keyPem = Read("--tls-key", keyFile);
        X509Certificate2 certificate;
        try
        {
            certificate = X509Certificate2.CreateFromPem(certificatePem);
        }
        catch (CryptographicException)
        {
            throw new CliException($"--tls-cert '{certFile}' is not a PEM certificate (expected a -----BEGIN CERTIFICATE----- block)");
        }
        using (certificate)
        {
            if (!PemText.IsPrivateKey(keyPem))
                throw new CliException($"--tls-key '{keyFile}' is not a PEM private key (expected a -----BEGIN PRIVATE KEY-----, RSA PRIVATE KEY or EC PRIVATE KEY block)");
            try
            {
                using var paired = X509Certificate2.CreateFromPem(certificatePem, keyPem);
            }
            catch (Exception ex) when (ex is CryptographicException or ArgumentException) // a key of another certificate is an ArgumentException
            {
                throw new CliException($"--tls-key '{keyFile}' does not match --tls-cert '{certFile}' (subject {certificate.Subject}); give the private key the certificate was issued for");
            }
        }
    }

    private static string Read(string flag, string file)
    {
        try
        {
            return File.ReadAllText(file);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            throw new CliException($"{flag} '{file}' cannot be read: {ex.Message}");
        }
    }
}
