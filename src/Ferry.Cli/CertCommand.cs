using System.Security.Cryptography.X509Certificates;
using Ferry.Transport.Tls;

namespace Ferry.Cli;

/// <summary>
/// <c>ferry cert</c>: makes PEM certificates for TLS and mutual TLS with .NET's cryptography (no
/// openssl binary): a CA, server and client certificates signed by it, or a self-signed one.
/// </summary>
internal static class CertCommand
{
    public const string Usage = """
        usage: ferry cert ca|server|client|self-signed [options]
          ca            a certificate authority: --out DIR/NAME writes NAME.pem and NAME.key
          server        a server certificate signed by --ca, for every --name (DNS names and IP addresses)
          client        a client certificate (mutual TLS) signed by --ca, with --name as its common name
          self-signed   a server certificate that signs itself, for every --name
        options:
          --out PATH      where to write: PATH.pem (certificate) and PATH.key (private key, mode 600) (required)
          --name NAME     a name: repeat for several (server, self-signed; default localhost and 127.0.0.1);
                          the common name for ca (default "Ferry CA") and client (default "ferry-client")
          --ca PATH       the CA that signs (server, client): PATH.pem and PATH.key, as written by 'ferry cert ca'
          --days N        validity in days (default 365; ca 3650)
        example: ferry cert ca --out ca && ferry cert server --ca ca --name localhost --out server
                 ferry serve --tls-cert server.pem --tls-key server.key
        """;

    public static Task<int> RunAsync(string[] args, TextWriter stdout, TextWriter stderr)
    {
        try
        {
            return Task.FromResult(Run(args, stdout));
        }
        catch (CliException ex)
        {
            stderr.WriteLine("ferry cert: " + ex.Message);
            return Task.FromResult(2);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or System.Security.Cryptography.CryptographicException)
        {
            stderr.WriteLine("ferry cert: " + ex.Message);
            return Task.FromResult(1);
        }
    }

    private static int Run(string[] args, TextWriter stdout)
    {
        if (args.Length == 0 || args[0] is "-h" or "--help")
        {
            stdout.WriteLine(Usage);
            return args.Length == 0 ? 2 : 0;
        }
        var kind = args[0];
        if (kind is not ("ca" or "server" or "client" or "self-signed"))
            throw new CliException($"unknown kind '{kind}'; use ca, server, client or self-signed (see ferry cert --help)");
        string? output = null, ca = null;
        int? days = null;
        var names = new List<string>();
        var reader = new CliArguments(args[1..]);
        while (reader.TryNext(out var flag))
        {
            switch (flag)
            {
                case "--out": output = reader.Value(flag); break;
                case "--name": names.Add(reader.Value(flag)); break;
                case "--ca": ca = reader.Value(flag); break;
                case "--days": days = reader.Int(flag, 1, 36500); break;
                case "-h" or "--help": stdout.WriteLine(Usage); return 0;
                default: throw new CliException($"unknown option '{flag}' (see ferry cert --help)");
            }
        }
        if (output is null)
            throw new CliException("--out PATH is required (writes PATH.pem and PATH.key)");
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
