using Ferry.Tests.Support;

namespace Ferry.Tests.Cli;

/// <summary>Every TLS flag whose file cannot be used is named at once, on ferry serve's one error line.</summary>
public sealed class TlsFlagAllProblemsTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("ferry-tlsall-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public async Task Serve_names_every_tls_file_that_cannot_be_used_not_only_the_first()
    {
        // Before: only the --tls-cert part; --tls-key and --tls-ca came out one run at a time.
        var (cert, key, ca) = (Path.Combine(_dir, "server.pem"), Path.Combine(_dir, "server.key"), Path.Combine(_dir, "ca.pem"));
        File.WriteAllText(ca, "not a certificate");
        var (code, stdout, stderr) = await CliRun.RunAsync("serve", "--bind", "127.0.0.1:0", "--tls-cert", cert, "--tls-key", key, "--tls-ca", ca);
        Assert.Equal(2, code);
        Assert.Empty(stdout);
        Assert.Equal(
            $"ferry serve: --tls-cert '{cert}' cannot be read: no such file; --tls-key '{key}' cannot be read: no such file; "
            + $"--tls-ca '{ca}' holds no PEM certificate (expected -----BEGIN CERTIFICATE----- blocks)",
            Assert.Single(stderr));
    }
}
