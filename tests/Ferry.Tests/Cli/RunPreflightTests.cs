using Ferry.Cli;
using Ferry.Transport.Tls;
using Ferry.Tests.Support;

namespace Ferry.Tests.Cli;

/// <summary>
/// <c>ferry check</c> finds what <c>ferry run</c> would only find when it builds the stages, at the key, and run starts nothing then;
/// it is listed with the file's other problems, not after they are fixed, and said in the file's spelling (a PascalCase JSON run
/// file is told its own keys).
/// </summary>
public sealed class RunPreflightTests : IDisposable
{
    private readonly ScratchFiles _files = new("ferry-preflight-");

    public void Dispose() => _files.Dispose();

    private string Write(string name, string text) => _files.Write(name, text);

    /// <summary>A server certificate and key, the test CA, and a CRL another CA issued, as files: what only building the stage refuses.</summary>
    private (string CertFile, string KeyFile, string Ca, string Crl) CrlOfAnotherCa()
    {
        var (cert, key) = CertificateMaker.ToPem(TestCertificates.Server);
        var other = CertificateMaker.CreateAuthority("CN=Other CA", TimeSpan.FromDays(1));
        return (Write("server.pem", cert), Write("server.key", key), Write("ca.pem", TestCertificates.AuthorityPem),
            Write("other.crl", CertificateMaker.CreateRevocationList(other, [], null, DateTimeOffset.UtcNow.AddDays(7))));
    }

    private static Task<(int Code, List<string> Out, List<string> Err)> RunAsync(params string[] args) => CliRun.RunAsync(args);

    [Fact]
    public async Task A_crl_signed_by_another_ca_is_refused_at_its_key()
    {
        var (certFile, keyFile, ca, crl) = CrlOfAnotherCa();
        var file = Write("crl.yaml", $$$"""
            stages:
              - name: s
                type: tcp_server
                config:
                  bind: 127.0.0.1:0
                  tls: {secure: true, client_certificate: required, ca_certificate_file: {{{ca}}}, certificate_revocation_list_file: {{{crl}}}, certificate: {certificate_file: {{{certFile}}}, private_key_file: {{{keyFile}}}}}
            """);
        var (code, stdout, stderr) = await RunAsync("check", file);
        Assert.Equal(2, code);
        Assert.Empty(stdout);
        var line = Assert.Single(stderr, l => l.Contains("certificate_revocation_list_file"));
        Assert.True(line.StartsWith($"{file}:6:", StringComparison.Ordinal) && line.Contains($"stages[0].config.tls.certificate_revocation_list_file: '{crl}' issued by 'CN=Other CA', which is not in the CA bundle"), line);
    }

    [Fact]
    public async Task A_bridge_handshake_timeout_of_0_is_refused_by_check_and_run_starts_nothing()
    {
        var port = FreePorts.One();
        var bridge = FreePorts.Pair();
        var file = Write("b0.yaml", $$$"""
            stages:
              - {name: a, type: tcp_server, config: {bind: "127.0.0.1:{{{port}}}"}}
              - {name: br, type: bridge_server, config: {address: 127.0.0.1, port: {{{bridge}}}, handshake_timeout: 0}}
            """);
        var (code, _, stderr) = await RunAsync("check", file);
        Assert.Equal(2, code);
        Assert.Contains(stderr, l => l.StartsWith($"{file}:3:", StringComparison.Ordinal) && l.Contains("stages[1].config.handshake_timeout: '0' is not allowed; use a duration above 0, e.g. 10s"));

        (code, var stdout, _) = await RunAsync("run", file);
        Assert.Equal(2, code);
        Assert.Empty(stdout); // 'a' never listened
        Assert.True(FreePorts.IsFree(port));
    }

    [Fact]
    public async Task A_bridge_server_address_that_does_not_resolve_is_refused_at_its_key()
    {
        var file = Write("b1.yaml", $$$"""
            stages:
              - {name: br, type: bridge_server, config: {address: nohost.invalid, port: {{{FreePorts.Pair()}}}}}
            """);
        var (code, _, stderr) = await RunAsync("check", file);
        Assert.Equal(2, code);
        Assert.Contains(stderr, l => l.StartsWith($"{file}:2:", StringComparison.Ordinal) && l.Contains("stages[0].config.address: 'nohost.invalid' is not an address this machine can listen on"));
    }

    [Fact]
    public async Task A_crl_of_another_ca_is_listed_beside_another_stages_unknown_key_and_run_starts_nothing()
    {
        var (certFile, keyFile, ca, crl) = CrlOfAnotherCa();
        var port = FreePorts.One();
        var file = Write("f.yaml", $$$"""
            stages:
              - name: s
                type: tcp_server
                config:
                  bind: "127.0.0.1:{{{port}}}"
                  tls: {secure: true, client_certificate: required, ca_certificate_file: {{{ca}}}, certificate_revocation_list_file: {{{crl}}}, certificate: {certificate_file: {{{certFile}}}, private_key_file: {{{keyFile}}}}}
              - {name: t, type: tcp_client, config: {connect: "127.0.0.1:1", reconect_wait: 1s}}
            """);

        foreach (var verb in new[] { "check", "run" })
        {
            var (code, stdout, stderr) = await CliRun.RunAsync(verb, file);
            Assert.Equal(2, code);
            Assert.Empty(stdout);
            Assert.Contains(stderr, l => l.Contains("stages[1].config.reconect_wait: unknown key 'reconect_wait'"));
            // Before: only the unknown key, and the CRL after it was fixed.
            Assert.Contains(stderr, l => l.StartsWith($"{file}:6:", StringComparison.Ordinal)
                && l.Contains($"stages[0].config.tls.certificate_revocation_list_file: '{crl}' issued by 'CN=Other CA', which is not in the CA bundle"));
            Assert.Equal($"ferry {verb}: {file}: 2 problems; nothing was started", stderr[^1]);
            Assert.True(FreePorts.IsFree(port));
        }
    }

    [Fact]
    public async Task A_crl_of_another_ca_in_a_pascal_case_run_file_is_told_in_pascal_case()
    {
        var (certFile, keyFile, ca, crl) = CrlOfAnotherCa();
        var file = Write("pascal.json", $$"""
            { "Stages": [
              { "Name": "s", "Type": "tcp_server", "Config": { "Bind": "127.0.0.1:0",
                "Tls": { "Secure": true, "ClientCertificate": "required", "CaCertificateFile": "{{ca}}", "CertificateRevocationListFile": "{{crl}}",
                         "Certificate": { "CertificateFile": "{{certFile}}", "PrivateKeyFile": "{{keyFile}}" } } } } ] }
            """);
        // At the key CertificateRevocationListFile (where it lies on line 3 depends on the length of the test's folder's name).
        var column = File.ReadLines(file).ElementAt(2).IndexOf("\"CertificateRevocationListFile\"", StringComparison.Ordinal) + 1;
        var (code, stdout, stderr) = await CliRun.RunAsync("check", file);
        Assert.Equal(2, code);
        Assert.Empty(stdout);
        Assert.Equal(string.Join("\n", new[]
        {
            $"{file}:3:{column}: Stages[0].Config.Tls.CertificateRevocationListFile: '{crl}' issued by 'CN=Other CA', which is not in the CA bundle",
            $"ferry check: {file}: 1 problem; nothing was started",
        }), string.Join("\n", stderr));
    }
}
