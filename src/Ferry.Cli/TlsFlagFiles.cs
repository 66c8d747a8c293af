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
    /// <summary>Checks every file the flags name (null: not given), adding each fault to <paramref name="problems"/>.</summary>
    public static void Check(string? certFile, string? keyFile, string? caFile, string? crlFile, List<string> problems)
    {
        // All of them: a user who mistyped the directory of --tls-cert and --tls-key would otherwise fix one per run.
        CheckCertificate(certFile, keyFile, problems);
        if (caFile is not null && Read("--tls-ca", caFile, problems) is { } ca && !PemText.HoldsCertificates(ca))
            problems.Add($"--tls-ca '{caFile}' holds no PEM certificate (expected -----BEGIN CERTIFICATE----- blocks)");
        if (crlFile is not null && Read("--tls-crl", crlFile, problems) is { } crl
            && !crl.Contains("-----BEGIN X509 CRL-----", StringComparison.Ordinal))
            problems.Add($"--tls-crl '{crlFile}' holds no PEM CRL (expected a -----BEGIN X509 CRL----- block, as 'ferry cert crl' writes)");
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
            ("tls.server_name", "--tls-server-name", null),
        ];
        foreach (var (key, flag, file) in keys)
        {
            var quoted = $"option '{key}'";
            if (message.StartsWith(quoted, StringComparison.Ordinal))
                return (file is null ? flag : $"{flag} '{file}'") + message[quoted.Length..];
        }
        return message;
    }

    /// <summary>The certificate and key files, each when given; whether they match only when both are given and usable.</summary>
    private static void CheckCertificate(string? certFile, string? keyFile, List<string> problems)
    {
        var certificatePem = certFile is null ? null : Read("--tls-cert", certFile, problems);
        var keyPem = keyFile is null ? null : Read("--tls-key", keyFile, problems);
        X509Certificate2? certificate = null;
        if (certificatePem is not null)
        {
            try
            {
                certificate = X509Certificate2.CreateFromPem(certificatePem);
            }
            catch (CryptographicException)
            {
                problems.Add($"--tls-cert '{certFile}' is not a PEM certificate (expected a -----BEGIN CERTIFICATE----- block)");
            }
        }
        if (keyPem is not null && !PemText.IsPrivateKey(keyPem))
        {
            problems.Add($"--tls-key '{keyFile}' is not a PEM private key (expected a -----BEGIN PRIVATE KEY-----, RSA PRIVATE KEY or EC PRIVATE KEY block)");
            keyPem = null;
        }
        using (certificate)
        {
            if (certificate is null || keyPem is null)
                return;
            try
            {
                using var paired = X509Certificate2.CreateFromPem(certificatePem, keyPem);
            }
            catch (Exception ex) when (ex is CryptographicException or ArgumentException) // a key of another certificate is an ArgumentException
            {
                problems.Add($"--tls-key '{keyFile}' does not match --tls-cert '{certFile}' (subject {certificate.Subject}); give the private key the certificate was issued for");
            }
        }
    }

    private static string? Read(string flag, string file, List<string> problems)
    {
        try
        {
            return Ferry.Transport.Tls.TlsFile.ReadText(file);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            problems.Add($"{flag} '{file}' cannot be read: {Ferry.Stages.Internal.UnreadableFile.Why(file, ex)}");
            return null;
        }
    }
}
