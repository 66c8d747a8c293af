using System.CommandLine;
using System.Security.Cryptography.X509Certificates;
using Ferry.Hosting.Settings;
using Ferry.Transport.Tls;

namespace Ferry.Cli;

/// <summary>
/// <c>ferry cert</c>: makes PEM certificates for TLS and mutual TLS with .NET's cryptography (no
/// openssl binary): a CA, server and client certificates signed by it, or a self-signed one.
/// </summary>
internal static class CertCommand
{
    private const string Epilog = """
        example: ferry cert ca --out ca && ferry cert server --ca ca --name localhost --out server
                 ferry serve --tls-cert server.pem --tls-key server.key
        """;

    public static Command Create(CliIo io)
    {
        string[] kinds = ["ca", "server", "client", "self-signed", "crl"];
        var kind = new Argument<string>("kind")
        {
            Description = "ca, server (signed by --ca), client (mutual TLS, signed by --ca), self-signed, or crl (a revocation list signed by --ca)",
            // One line with a suggestion, as every other command says it (AcceptOnlyFromAmong's message lists one kind per line).
            CustomParser = r =>
            {
                var text = r.Tokens.Count > 0 ? r.Tokens[0].Value : "";
                if (!kinds.Contains(text, StringComparer.Ordinal))
                    r.AddError($"kind '{text}' is not allowed{Suggest.DidYouMean(text, kinds)}; use {string.Join(", ", kinds[..^1])} or {kinds[^1]}");
                return text;
            },
        };
        kind.CompletionSources.Add(kinds);
        var output = new Option<string>("--out") { Description = "where to write: PATH.pem (certificate) and PATH.key (private key, mode 600); for crl PATH.crl (added to if it exists)", HelpName = "PATH", Required = true };
        var revoke = new Option<string[]>("--revoke")
        {
            Description = "crl: a certificate (PEM file) to revoke (repeat for several)",
            HelpName = "CERT",
            AllowMultipleArgumentsPerToken = false,
        };
        var names = new Option<string[]>("--name")
        {
            Description = "a DNS name or IP address (repeat for several; server/self-signed default localhost and 127.0.0.1); the common name for ca and client",
            HelpName = "NAME",
            AllowMultipleArgumentsPerToken = false,
        };
        var ca = new Option<string>("--ca") { Description = "the CA that signs (server, client): PATH.pem and PATH.key as written by 'ferry cert ca'", HelpName = "PATH" };
        var days = CliOptions.Int("--days", 1, 36500, "validity in days (default 365; ca 3650)");
        var force = CliOptions.Flag("--force", "ca, server, client, self-signed: overwrite PATH.pem and PATH.key when they exist (without it an existing file is refused and nothing is written)");
        var command = new Command("cert", "make PEM certificates for TLS and mutual TLS (no openssl needed)\n\n" + Epilog) { kind, output, names, ca, days, revoke, force };
        command.SetAction(result =>
        {
            try
            {
                var what = result.GetValue(kind)!;
                var revoked = result.GetValue(revoke) ?? [];
                if (what != "crl" && revoked.Length > 0)
                    throw new CliException("--revoke goes with 'ferry cert crl'");
                if (what == "crl" && result.GetValue(force))
                    throw new CliException("--force does not apply to 'ferry cert crl', which adds to PATH.crl; it goes with ca, server, client and self-signed");
                return what == "crl"
                    ? RevocationList(result.GetValue(output)!, result.GetValue(ca), revoked, result.TryGet(days, out var crlDays) ? crlDays : 30, io.Stdout)
                    : Run(what, result.GetValue(output)!, result.GetValue(names) ?? [], result.GetValue(ca),
                        result.TryGet(days, out var d) ? d : null, result.GetValue(force), io.Stdout);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or System.Security.Cryptography.CryptographicException)
            {
                io.Stderr.WriteLine("ferry cert: " + ex.Message);
                return 1;
            }
        });
        return command;
    }

    private static int Run(string kind, string output, IReadOnlyList<string> names, string? ca, int? days, bool force, TextWriter stdout)
    {
        if (kind is "server" or "client" && ca is null)
            throw new CliException($"a {kind} certificate needs --ca PATH (the CA's PATH.pem and PATH.key; make one with 'ferry cert ca')");
        CertArguments.CheckOutput(output, ".pem", ".key");
        if (!force)
            CertArguments.CheckNotThere(output + ".pem", output + ".key");
        if (kind is "server" or "self-signed")
            CertArguments.CheckServerNames(names);
        var now = DateTimeOffset.UtcNow;
        var until = now.AddDays(days ?? (kind == "ca" ? 3650 : 365));
        var from = now.AddMinutes(-5);
        using var issuer = ca is null ? null : LoadIssuer(ca);
        using var made = kind switch
        {
            "ca" => CertificateMaker.CreateAuthority(names.FirstOrDefault() ?? "Ferry CA", until - from, from),
            "server" => CertificateMaker.CreateServer(issuer, names.Count > 0 ? names : ["localhost", "127.0.0.1"], from, until),
            "client" => CertificateMaker.CreateClient(issuer, names.FirstOrDefault() ?? "ferry-client", from, until),
            _ => CertificateMaker.CreateServer(null, names.Count > 0 ? names : ["localhost", "127.0.0.1"], from, until),
        };
        var (certificatePem, keyPem) = CertificateMaker.ToPem(made);
        // Without --force a file that appeared since the check is not overwritten either (CreateNew fails, exit 1).
        WriteCertificate(output + ".pem", certificatePem, force);
        WritePrivate(output + ".key", keyPem, force);
        stdout.WriteLine($"{kind} certificate {made.Subject} (SHA-1 {made.Thumbprint}), valid until {made.NotAfter.ToUniversalTime():yyyy-MM-dd}: {output}.pem, {output}.key");
        return 0;
    }

    /// <summary><c>ferry cert crl</c>: PATH.crl signed by the CA, with the certificates given revoked on top of those PATH.crl already revoked.</summary>
    private static int RevocationList(string output, string? ca, IReadOnlyList<string> revoke, int days, TextWriter stdout)
    {
        if (ca is null)
            throw new CliException("a crl needs --ca PATH (the CA that issued the certificates; its PATH.pem and PATH.key)");
        CertArguments.CheckOutput(output, ".crl");
        using var issuer = LoadIssuer(ca);
        var certificates = new List<X509Certificate2>();
        foreach (var file in revoke)
        {
            try
            {
                certificates.Add(X509Certificate2.CreateFromPem(Ferry.Transport.Tls.TlsFile.ReadText(file)));
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or System.Security.Cryptography.CryptographicException)
            {
                throw new CliException($"--revoke '{file}': cannot load a PEM certificate: {ex.Message}");
            }
            if (!certificates[^1].IssuerName.RawData.AsSpan().SequenceEqual(issuer.SubjectName.RawData))
                throw new CliException($"--revoke '{file}': issued by '{certificates[^1].Issuer}', not by the CA '{issuer.Subject}'");
        }
        var path = output + ".crl";
        var existing = File.Exists(path) ? File.ReadAllText(path) : null;
        string pem;
        int already;
        try
        {
            // A serial the CRL lists already (or given twice) is not added again: a second entry says nothing new, and
            // the line would count it as newly revoked. RemoveEntry on a copy of the list is the membership test.
            var listed = existing is null ? null : CertificateRevocationListBuilder.LoadPem(existing, out _);
            var seen = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
            var fresh = certificates.Where(c => seen.Add(c.SerialNumber) && !(listed?.RemoveEntry(c.SerialNumberBytes.Span) ?? false)).ToList();
            already = seen.Count - fresh.Count;
            certificates = fresh;
            pem = CertificateMaker.CreateRevocationList(issuer, certificates, existing, DateTimeOffset.UtcNow.AddDays(days));
        }
        catch (System.Security.Cryptography.CryptographicException ex) when (existing is not null)
        {
            throw new CliException($"'{path}' exists but is not a CRL of this CA that can be added to: {ex.Message}");
        }
        File.WriteAllText(path, pem);
        stdout.WriteLine($"crl signed by {issuer.Subject}, {certificates.Count} certificate{(certificates.Count == 1 ? "" : "s")} newly revoked"
            + $"{(already > 0 ? $" ({already} already listed)" : "")}, next update in {days} days: {path}");
        foreach (var c in certificates)
            c.Dispose();
        return 0;
    }

    private static X509Certificate2 LoadIssuer(string path)
    {
        try
        {
            return X509Certificate2.CreateFromPem(Ferry.Transport.Tls.TlsFile.ReadText(path + ".pem"), Ferry.Transport.Tls.TlsFile.ReadText(path + ".key"));
        }
        catch (Exception ex) when (ex is IOException or System.Security.Cryptography.CryptographicException)
        {
            throw new CliException($"--ca '{path}': cannot load {path}.pem and {path}.key: {ex.Message}");
        }
    }

    private static void WriteCertificate(string path, string text, bool force)
    {
        using var writer = new StreamWriter(path, new System.Text.UTF8Encoding(false), new FileStreamOptions { Mode = force ? FileMode.Create : FileMode.CreateNew, Access = FileAccess.Write });
        writer.Write(text);
    }

    /// <summary>Writes a private key readable by its owner only (on Unix), created that way so it is never readable by others.</summary>
    private static void WritePrivate(string path, string text, bool force)
    {
        // An existing file keeps its mode when overwritten: a key replaced under --force is created anew, mode 600, not
        // written into a file others may read.
        if (force)
            File.Delete(path);
        var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows())
            options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        using var writer = new StreamWriter(path, new System.Text.UTF8Encoding(false), options);
        writer.Write(text);
    }
}
