using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Ferry.Stages;
using HostNameText = Ferry.Stages.Internal.HostNameText;

namespace Ferry.Hosting.Settings;

/// <summary>
/// Reads seed 004's <c>tls</c> block (<c>secure</c>, <c>certificate</c> with <c>certificate_pem</c> and
/// <c>private_key_pem</c> or their <c>_file</c> forms, <c>ca_certificate_pem</c>/<c>ca_certificate_file</c>,
/// <c>server_name</c>, <c>accept_invalid_certificates</c>) plus <c>client_certificate</c> and
/// <c>handshake_timeout</c> and a CRL (<c>certificate_revocation_list_pem</c>/<c>_file</c>) into <see cref="TlsOptions"/>. The certificate, key and CA bundle are loaded
/// here, so an unreadable file, text that is not PEM or a key that does not match its certificate is
/// reported at the key that names it, before anything starts.
/// </summary>
internal static class TlsBlockReader
{
    private static readonly string[] Keys =
    [
        "secure", "certificate", "ca_certificate_pem", "ca_certificate_file", "server_name", "accept_invalid_certificates",
        "client_certificate", "handshake_timeout", "certificate_revocation_list_pem", "certificate_revocation_list_file",
    ];

    private static readonly string[] CertificateKeys = ["certificate_pem", "private_key_pem", "certificate_file", "private_key_file"];

    /// <summary>
    /// The stage's TLS options; null when there is no block, <c>secure</c> is false, or the block has problems (added to
    /// <paramref name="problems"/>). Keys that do not apply to the stage's role are refused only when <c>secure</c> is true;
    /// TLS settings without <c>secure: true</c> are refused (they would otherwise be ignored and the stage serve plain TCP).
    /// Keys named in messages are spelled as the block's (or, when its own keys show no spelling, <paramref name="outer"/>, the stage's).
    /// </summary>
    public static TlsOptions? Read(ISettingNode? node, bool server, List<SettingProblem> problems, KeySpelling? outer = null)
    {
        var say = KeySpelling.Of(node?.Children.Select(c => c.Key) ?? [], outer);
        if (node is null || (node.Value is not null && node.Value.Length == 0) || (node.Value is null && !node.IsSequence && node.Children.Count == 0))
            return null;
        if (node.Value is not null || node.IsSequence)
        {
            problems.Add(new SettingProblem(node.Where, node.Path, node.Value, $"must be a block ({say.List(Keys)})"));
            return null;
        }
        var before = problems.Count;
        var e = new SettingEntries(node.Children, Keys, problems, "the tls block", OtherKindKeys.TlsBlock, outer);
        var secureGiven = e.Bool("secure");
        var secure = secureGiven ?? false;
        var options = new TlsOptions { Secure = secure };
        if (e.Choice("client_certificate", ("none", ClientCertificateMode.None), ("optional", ClientCertificateMode.Optional), ("required", ClientCertificateMode.Required)) is { } mode)
        {
            if (secure && !server && mode != ClientCertificateMode.None)
                e.Problem("client_certificate", $"only applies to server stages; a client stage presents its own certificate in '{e.Say("certificate")}'");
            options = options with { ClientCertificate = mode };
        }
        if (e.Duration("handshake_timeout") is { } timeout)
        {
            if (timeout <= TimeSpan.Zero)
                e.Problem("handshake_timeout", "is not allowed; use a positive duration, e.g. 10s");
            options = options with { HandshakeTimeout = timeout };
        }
        var serverName = Optional(e, "server_name");
        var serverNameValid = serverName is not null && HostNameText.IsValid(serverName.Trim());
        if (serverName is not null && !serverNameValid)
            e.Problem("server_name", TlsOptions.ServerNameNotAName(server));
        var acceptInvalid = e.Bool("accept_invalid_certificates") ?? false;
        // On a server it waives the checks of client certificates: with none asked for there is nothing it could mean.
        if (secure && acceptInvalid && server && options.ClientCertificate == ClientCertificateMode.None)
            e.Problem("accept_invalid_certificates", $"on a server accepts client certificates that fail their checks (development only), but this server asks for none; "
                + $"set {e.Say("client_certificate")} to optional or required, or leave it false");
        options = options with { ServerName = serverName, AcceptInvalidCertificates = acceptInvalid };

        var certificate = ReadCertificate(e.Node("certificate"), problems, e.Spelling);
        options = options with { Certificate = certificate };
        if (secure && server && serverNameValid && certificate is not null)
            CheckServedName(e, options, certificate);
        var caPem = Optional(e, "ca_certificate_pem");
        var caFile = Optional(e, "ca_certificate_file");
        if (caPem is not null && caFile is not null)
            e.Problem("ca_certificate_file", $"cannot be combined with '{e.Say("ca_certificate_pem")}'; give one of them");
        else if ((caPem ?? Pem(e, "ca_certificate_file", caFile)) is { } ca && !PemText.HoldsCertificates(ca))
            e.Problem(caPem is not null ? "ca_certificate_pem" : "ca_certificate_file", "holds no PEM certificate (expected -----BEGIN CERTIFICATE----- blocks)");
        options = options with { CaCertificatePem = caPem, CaCertificateFile = caFile };
        var crlPem = Optional(e, "certificate_revocation_list_pem");
        var crlFile = Optional(e, "certificate_revocation_list_file");
        if (crlPem is not null && crlFile is not null)
            e.Problem("certificate_revocation_list_file", $"cannot be combined with '{e.Say("certificate_revocation_list_pem")}'; give one of them");
        else if ((crlPem ?? Pem(e, "certificate_revocation_list_file", crlFile)) is { } crl && !crl.Contains("-----BEGIN X509 CRL-----", StringComparison.Ordinal))
            e.Problem(crlPem is not null ? "certificate_revocation_list_pem" : "certificate_revocation_list_file", "holds no PEM CRL (expected a -----BEGIN X509 CRL----- block, as 'ferry cert crl' writes)");
        options = options with { CertificateRevocationListPem = crlPem, CertificateRevocationListFile = crlFile };

        if (!secure && (secureGiven is not null || !e.Has("secure")))
            RefuseSettingsWithoutSecure(e, node, problems, options);
        if (secure)
        {
            var pair = $"{e.Say("certificate_pem")} and {e.Say("private_key_pem")} (or {e.Say("certificate_file")} and {e.Say("private_key_file")})";
            if (server && certificate is null && e.Node("certificate") is { } given && given.Children.Count == 0)
                problems.Add(new SettingProblem(given.Where, given.Path, given.Value, $"is required on a TLS server: give {pair}"));
            else if (server && !e.Has("certificate"))
                problems.Add(new SettingProblem(node.Where, $"{node.Path}.{e.Say("certificate")}", null, $"missing key '{e.Say("certificate")}': a TLS server needs {pair}"));
            // Accepting any client certificate (accept_invalid_certificates) needs no CA to check them against.
            if (server && options.ClientCertificate != ClientCertificateMode.None && caPem is null && caFile is null && !acceptInvalid)
                e.Problem("client_certificate", $"needs {e.Say("ca_certificate_pem")} or {e.Say("ca_certificate_file")} (the CA client certificates must chain to)");
        }
        return problems.Count == before && secure ? options : null;
    }

    /// <summary>
    /// A block that configures TLS (a certificate, a CA, client certificates, a server name, …) while <c>secure</c> is
    /// false or missing would silently serve plain TCP to whoever connects: refused at <c>secure</c>. Seed 004's
    /// <c>secure: false</c> with the other keys null, <c>none</c> or <c>false</c> stays plain TCP.
    /// </summary>
    private static void RefuseSettingsWithoutSecure(SettingEntries e, ISettingNode block, List<SettingProblem> problems, TlsOptions read)
    {
        var set = new List<string>();
        if (e.Node("certificate") is { } certificate && (certificate.Children.Count > 0 || !string.IsNullOrEmpty(certificate.Value)))
            set.Add("certificate");
        if (read.CaCertificatePem is not null) set.Add("ca_certificate_pem");
        if (read.CaCertificateFile is not null) set.Add("ca_certificate_file");
        if (read.ClientCertificate != ClientCertificateMode.None) set.Add("client_certificate");
        if (read.ServerName is not null) set.Add("server_name");
        if (read.AcceptInvalidCertificates) set.Add("accept_invalid_certificates");
        if (read.CertificateRevocationListPem is not null) set.Add("certificate_revocation_list_pem");
        if (read.CertificateRevocationListFile is not null) set.Add("certificate_revocation_list_file");
        if (e.Node("handshake_timeout") is { Value.Length: > 0 }) set.Add("handshake_timeout");
        if (set.Count == 0)
            return;
        var secure = e.Say("secure");
        var fix = $"the block sets {e.Spelling.List(set)}: set {secure}: true to serve TLS, or remove the TLS settings";
        if (e.Has("secure"))
            e.Problem("secure", $"turns TLS off (the stage would serve plain TCP), but {fix}");
        else
            problems.Add(new SettingProblem(block.Where, $"{block.Path}.{secure}", null, $"missing key '{secure}': without {secure}: true TLS is off (the stage would serve plain TCP), but {fix}"));
    }

    /// <summary>
    /// A server's <c>server_name</c> must be a name of its certificate (clients reaching it by that name would refuse it
    /// otherwise): told at <c>server_name</c> with the certificate's names, as the stage would say when it is built.
    /// </summary>
    private static void CheckServedName(SettingEntries e, TlsOptions options, TlsCertificate source)
    {
        string pem;
        try
        {
            pem = source.CertificatePem ?? Ferry.Transport.Tls.TlsFile.ReadText(source.CertificateFile!);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return; // read a moment ago by ReadCertificate; the stage's own load says what changed
        }
        try
        {
            using var certificate = X509Certificate2.CreateFromPem(pem);
            if (!Ferry.Transport.Tls.ServedName.Covers(certificate, options.ServerName!))
                e.Problem("server_name", $"is not a name of the server's certificate ({Ferry.Transport.Tls.ServedName.Describe(certificate)}), so clients reaching "
                    + $"the server by that name would refuse it; set {e.Say("server_name")} to a name the certificate carries, or give a certificate issued for it");
        }
        catch (CryptographicException)
        {
            // ReadCertificate took it a moment ago: a file rewritten since; the stage's own load says what is wrong.
        }
    }

    /// <summary>The <c>certificate</c> block: PEM text or files for the certificate and its key, loaded to check they are PEM and belong together.</summary>
    private static TlsCertificate? ReadCertificate(ISettingNode? node, List<SettingProblem> problems, KeySpelling outer)
    {
        if (node is null || (node.Value is not null && node.Value.Length == 0) || (node.Value is null && !node.IsSequence && node.Children.Count == 0))
            return null;
        if (node.Value is not null || node.IsSequence)
        {
            problems.Add(new SettingProblem(node.Where, node.Path, node.Value, $"must be a block ({outer.List(CertificateKeys)})"));
            return null;
        }
        var before = problems.Count;
        var e = new SettingEntries(node.Children, CertificateKeys, problems, "the tls certificate block", outer: outer);
        var given = new TlsCertificate
        {
            CertificatePem = Optional(e, "certificate_pem"),
            PrivateKeyPem = Optional(e, "private_key_pem"),
            CertificateFile = Optional(e, "certificate_file"),
            PrivateKeyFile = Optional(e, "private_key_file"),
        };
        var (certificateKey, certificatePem) = Source(e, node, ("certificate_pem", given.CertificatePem), ("certificate_file", given.CertificateFile), "the certificate", problems);
        var (keyKey, keyPem) = Source(e, node, ("private_key_pem", given.PrivateKeyPem), ("private_key_file", given.PrivateKeyFile), "the private key", problems);
        if (certificatePem is not null && certificateKey is not null)
            CheckCertificate(e, certificateKey, certificatePem, keyKey, keyPem);
        return problems.Count == before ? given : null;
    }

    /// <summary>One of the PEM text and the file: which key was given and its PEM text (read from the file).</summary>
    private static (string? Key, string? Pem) Source(SettingEntries e, ISettingNode block, (string Key, string? Value) pem, (string Key, string? Value) file,
        string what, List<SettingProblem> problems)
    {
        if (pem.Value is not null && file.Value is not null)
        {
            e.Problem(file.Key, $"cannot be combined with '{e.Say(pem.Key)}'; give {what} once");
            return (null, null);
        }
        if (pem.Value is null && file.Value is null)
        {
            problems.Add(new SettingProblem(block.Where, $"{block.Path}.{e.Say(pem.Key)}", null, $"missing key '{e.Say(pem.Key)}' (or '{e.Say(file.Key)}'): {what} as PEM text (or a PEM file)"));
            return (null, null);
        }
        return pem.Value is not null ? (pem.Key, pem.Value) : (file.Key, Pem(e, file.Key, file.Value));
    }

    private static void CheckCertificate(SettingEntries e, string certificateKey, string certificatePem, string? keyKey, string? keyPem)
    {
        X509Certificate2 certificate;
        try
        {
            certificate = X509Certificate2.CreateFromPem(certificatePem);
        }
        catch (CryptographicException ex)
        {
            e.Problem(certificateKey, $"is not a PEM certificate (expected a -----BEGIN CERTIFICATE----- block): {ex.Message}");
            return;
        }
        using (certificate)
        {
            if (keyKey is null || keyPem is null)
                return;
            if (!PemText.IsPrivateKey(keyPem))
            {
                e.Problem(keyKey, "is not a PEM private key (expected a -----BEGIN PRIVATE KEY-----, RSA PRIVATE KEY or EC PRIVATE KEY block)");
                return;
            }
            try
            {
                using var paired = X509Certificate2.CreateFromPem(certificatePem, keyPem);
            }
            catch (Exception ex) when (ex is CryptographicException or ArgumentException) // a mismatched EC key is an ArgumentException
            {
                e.Problem(keyKey, $"does not match the certificate (subject {certificate.Subject}); give the private key the certificate was issued for");
            }
        }
    }

    /// <summary>A file's text, or null with a problem at <paramref name="key"/> when it cannot be read.</summary>
    private static string? Pem(SettingEntries e, string key, string? path)
    {
        if (path is null)
            return null;
        try
        {
            return Ferry.Transport.Tls.TlsFile.ReadText(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            e.Problem(key, $"cannot be read: {Ferry.Stages.Internal.UnreadableFile.Why(path, ex)}");
            return null;
        }
    }

    /// <summary>A text value, null when absent, null or empty (seed 004 writes <c>server_name: null</c>).</summary>
    private static string? Optional(SettingEntries e, string key) => e.Text(key) is { Length: > 0 } text ? text : null;
}
