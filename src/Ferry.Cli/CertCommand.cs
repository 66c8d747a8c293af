using System.CommandLine;
using System.Security.Cryptography.X509Certificates;
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
        var kind = new Argument<string>("kind") { Description = "ca, server (signed by --ca), client (mutual TLS, signed by --ca) or self-signed" };
        kind.AcceptOnlyFromAmong("ca", "server", "client", "self-signed");
        var output = new Option<string>("--out") { Description = "where to write: PATH.pem (certificate) and PATH.key (private key, mode 600)", HelpName = "PATH", Required = true };
        var names = new Option<string[]>("--name")
        {
            Description = "a DNS name or IP address (repeat for several; server/self-signed default localhost and 127.0.0.1); the common name for ca and client",
            HelpName = "NAME",
            AllowMultipleArgumentsPerToken = false,
        };
        var ca = new Option<string>("--ca") { Description = "the CA that signs (server, client): PATH.pem and PATH.key as written by 'ferry cert ca'", HelpName = "PATH" };
        var days = CliOptions.Int("--days", 1, 36500, "validity in days (default 365; ca 3650)");
        var command = new Command("cert", "make PEM certificates for TLS and mutual TLS (no openssl needed)\n\n" + Epilog) { kind, output, names, ca, days };
        command.SetAction(result =>
        {
            try
            {
                return Run(result.GetValue(kind)!, result.GetValue(output)!, result.GetValue(names) ?? [], result.GetValue(ca),
                    result.TryGet(days, out var d) ? d : null, io.Stdout);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or System.Security.Cryptography.CryptographicException)
            {
                io.Stderr.WriteLine("ferry cert: " + ex.Message);
                return 1;
            }
        });
        return command;
    }

    private static int Run(string kind, string output, IReadOnlyList<string> names, string? ca, int? days, TextWriter stdout)
    {
        if (kind is "server" or "client" && ca is null)
            throw new CliException($"a {kind} certificate needs --ca PATH (the CA's PATH.pem and PATH.key; make one with 'ferry cert ca')");
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
        File.WriteAllText(output + ".pem", certificatePem);
        WritePrivate(output + ".key", keyPem);
        stdout.WriteLine($"{kind} certificate {made.Subject} (SHA-1 {made.Thumbprint}), valid until {made.NotAfter.ToUniversalTime():yyyy-MM-dd}: {output}.pem, {output}.key");
        return 0;
    }

    private static X509Certificate2 LoadIssuer(string path)
    {
        try
        {
            return X509Certificate2.CreateFromPem(File.ReadAllText(path + ".pem"), File.ReadAllText(path + ".key"));
        }
        catch (Exception ex) when (ex is IOException or System.Security.Cryptography.CryptographicException)
        {
            throw new CliException($"--ca '{path}': cannot load {path}.pem and {path}.key: {ex.Message}");
        }
    }

    /// <summary>Writes a private key readable by its owner only (on Unix), created that way so it is never readable by others.</summary>
    private static void WritePrivate(string path, string text)
    {
        var options = new FileStreamOptions { Mode = FileMode.Create, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows())
            options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        using var writer = new StreamWriter(path, new System.Text.UTF8Encoding(false), options);
        writer.Write(text);
    }
}
