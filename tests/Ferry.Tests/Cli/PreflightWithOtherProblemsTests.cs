using Ferry.Transport.Tls;
using Ferry.Tests.Support;

namespace Ferry.Tests.Cli;

/// <summary>What only the built stage finds (StagePreflight) is listed with the file's other problems, not after they are fixed.</summary>
public sealed class PreflightWithOtherProblemsTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("ferry-preflight-all-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string Write(string name, string text)
    {
        var path = Path.Combine(_dir, name);
        File.WriteAllText(path, text);
        return path;
    }

    [Fact]
    public async Task A_crl_of_another_ca_is_listed_beside_another_stages_unknown_key_and_run_starts_nothing()
    {
        var (cert, key) = CertificateMaker.ToPem(TestCertificates.Server);
        var certFile = Write("server.pem", cert);
        var keyFile = Write("server.key", key);
        var ca = Write("ca.pem", TestCertificates.AuthorityPem);
        var other = CertificateMaker.CreateAuthority("CN=Other CA", TimeSpan.FromDays(1));
        var crl = Write("other.crl", CertificateMaker.CreateRevocationList(other, [], null, DateTimeOffset.UtcNow.AddDays(7)));
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
}
