using Ferry.Transport.Tls;
using Ferry.Tests.Support;

namespace Ferry.Tests.Cli;

/// <summary>
/// What <c>ferry check</c> finds only by building a stage (a CRL another CA issued) is said at the key, in the spelling of a run file
/// written with PascalCase keys (a JSON file a .NET user wrote like appsettings.json), as the problems found by reading it are.
/// The line's path is the file's own keys and the message names no other key, so the problem reads as the user wrote the file.
/// </summary>
public sealed class PascalCasePreflightTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("ferry-pascal-preflight-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string Write(string name, string text)
    {
        var path = Path.Combine(_dir, name);
        File.WriteAllText(path, text);
        return path;
    }

    [Fact]
    public async Task A_crl_of_another_ca_in_a_pascal_case_run_file_is_told_in_pascal_case()
    {
        var (cert, key) = CertificateMaker.ToPem(TestCertificates.Server);
        var certFile = Write("server.pem", cert);
        var keyFile = Write("server.key", key);
        var ca = Write("ca.pem", TestCertificates.AuthorityPem);
        var other = CertificateMaker.CreateAuthority("CN=Other CA", TimeSpan.FromDays(1));
        var crl = Write("other.crl", CertificateMaker.CreateRevocationList(other, [], null, DateTimeOffset.UtcNow.AddDays(7)));
        var file = Write("pascal.json", $$"""
            { "Stages": [
              { "Name": "s", "Type": "tcp_server", "Config": { "Bind": "127.0.0.1:0",
                "Tls": { "Secure": true, "ClientCertificate": "required", "CaCertificateFile": "{{ca}}", "CertificateRevocationListFile": "{{crl}}",
                         "Certificate": { "CertificateFile": "{{certFile}}", "PrivateKeyFile": "{{keyFile}}" } } } } ] }
            """);
        var (code, stdout, stderr) = await CliRun.RunAsync("check", file);
        Assert.Equal(2, code);
        Assert.Empty(stdout);
        Assert.Equal(string.Join("\n", new[]
        {
            $"{file}:3:129: Stages[0].Config.Tls.CertificateRevocationListFile: '{crl}' issued by 'CN=Other CA', which is not in the CA bundle",
            $"ferry check: {file}: 1 problem; nothing was started",
        }), string.Join("\n", stderr));
    }
}
