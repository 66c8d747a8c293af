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

    [Fact]
    public async Task Tls_files_too_large_or_endless_are_refused_with_the_bound_not_read_until_memory_runs_out()
    {
        // Before: /dev/zero grew without end and a 3 GiB file ended the process with "Out of memory." (exit 134).
        var cert = Path.Combine(_dir, "huge.pem");
        using (var file = new FileStream(cert, FileMode.CreateNew))
            file.SetLength(Ferry.Transport.Tls.TlsFile.MaxBytes + 1L);
        var (code, stdout, stderr) = await CliRun.RunAsync("serve", "--bind", "127.0.0.1:0", "--tls-cert", cert, "--tls-key", "/dev/zero");
        Assert.Equal(2, code);
        Assert.Empty(stdout);
        Assert.Equal(
            $"ferry serve: --tls-cert '{cert}' cannot be read: it is larger than 16777216 bytes (16 MiB), the limit for a TLS file; "
            + "--tls-key '/dev/zero' cannot be read: it is larger than 16777216 bytes (16 MiB), the limit for a TLS file",
            Assert.Single(stderr));
    }

    [Theory]
    [InlineData(new[] { "--tls-server-name", "gw.example.com" }, "--tls-server-name turns TLS on")]
    [InlineData(new[] { "--tls-handshake-timeout", "5s" }, "--tls-handshake-timeout turns TLS on")]
    [InlineData(new[] { "--insecure", "--client-cert", "optional" }, "--client-cert, --insecure turn TLS on")]
    public async Task A_tls_flag_without_a_certificate_is_refused_never_dropped_for_plain_tcp(string[] flags, string start)
    {
        // Before: --tls-handshake-timeout (and --tls-crl) alone served plain TCP, the flag ignored; the others said
        // "option 'tls.certificate': … (certificate_pem and private_key_pem …)", the config file's words.
        var (code, stdout, stderr) = await CliRun.RunAsync(["serve", "--bind", "127.0.0.1:0", .. flags]);
        Assert.Equal(2, code);
        Assert.Empty(stdout);
        Assert.Equal($"ferry serve: {start}, and a TLS server needs --tls-cert and --tls-key (its PEM certificate and private key)", Assert.Single(stderr));
    }

    [Fact]
    public async Task A_certificate_file_that_is_missing_without_its_key_is_said_with_the_missing_key()
    {
        // Before: only "--tls-cert and --tls-key go together"; the missing file came out on the next run.
        var (code, stdout, stderr) = await CliRun.RunAsync("serve", "--bind", "127.0.0.1:0", "--tls-cert", "/nope.pem");
        Assert.Equal(2, code);
        Assert.Empty(stdout);
        Assert.Equal(
            "ferry serve: --tls-cert needs --tls-key (the certificate's PEM private key): --tls-cert and --tls-key go together; "
            + "--tls-cert '/nope.pem' cannot be read: no such file",
            Assert.Single(stderr));
    }

    [Fact]
    public async Task Connect_says_a_bad_server_name_and_a_missing_ca_file_together()
    {
        var ca = Path.Combine(_dir, "missing-ca.pem");
        var (code, _, stderr) = await CliRun.RunAsync("connect", "127.0.0.1:1", "--tls-server-name", "a b", "--tls-ca", ca, "--tls-key", "/nope.key");
        Assert.Equal(2, code);
        var line = Assert.Single(stderr);
        Assert.StartsWith("ferry connect: --tls-server-name 'a b' is not a DNS name or an IP address", line);
        Assert.Contains("--tls-key needs --tls-cert", line);
        Assert.Contains("--tls-key '/nope.key' cannot be read: no such file", line);
        Assert.Contains($"--tls-ca '{ca}' cannot be read: no such file", line);
    }
}
