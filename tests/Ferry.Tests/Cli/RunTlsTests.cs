using System.Text;
using Ferry.Cli;
using Ferry.Transport.Tls;
using Ferry.Tests.Support;

namespace Ferry.Tests.Cli;

/// <summary>Seed 004's <c>tls</c> block in run files: a TLS node runs and a TLS client talks to it; bad blocks give exact messages.</summary>
public sealed class RunTlsTests : IDisposable
{
    private readonly ScratchFiles _files = new("ferry-tls-run-");
    private readonly string _cert;
    private readonly string _key;

    public RunTlsTests()
    {
        var (cert, key) = CertificateMaker.ToPem(TestCertificates.Server);
        _cert = Write("server.pem", cert);
        _key = Write("server.key", key);
    }

    public void Dispose() => _files.Dispose();

    private string Write(string name, string text) => _files.Write(name, text);

    private static Task<(int Code, List<string> Out, List<string> Err)> RunAsync(params string[] args) => CliRun.RunAsync(args);

    [Fact]
    public async Task The_seed_004_tls_example_runs_and_a_tls_client_talks_to_it()
    {
        await using var run = RunningCommand.Start(null, "run", RepoFiles.Path("examples/seed004-node-tls.yaml"),
            "--set", "stages.node.config.port=0",
            "--set", $"stages.node.config.tls.certificate.certificate_file={_cert}",
            "--set", $"stages.node.config.tls.certificate.private_key_file={_key}");
        var at = await run.ListeningAsync("node");
        await using var client = await FramedTestClient.ConnectAsync(at, TestCertificates.TrustingClient());
        var connected = await run.Out.WaitJsonAsync(j => LineWriter.Is(j, "connected"), "the TLS connection");
        Assert.Equal("localhost", connected.GetProperty("tls").GetProperty("server_name").GetString());
        await client.SendAsync("over tls"u8.ToArray());
        await run.Out.WaitJsonAsync(j => LineWriter.Is(j, "packet") && j.GetProperty("text").GetString() == "over tls", "the packet, decrypted");
        Assert.Equal(0, await run.StopAsync());
    }

    [Fact]
    public async Task The_same_block_with_pem_text_passes_check()
    {
        var file = Write("pem.yaml", $"""
            stages:
              - name: node
                type: tcp_server
                config:
                  host: 127.0.0.1
                  port: 3036
                  tls:
                    secure: true
                    certificate:
                      certificate_pem: "{File.ReadAllText(_cert).Replace("\n", "\\n")}"
                      private_key_pem: "{File.ReadAllText(_key).Replace("\n", "\\n")}"
                    ca_certificate_pem: "{TestCertificates.AuthorityPem.Replace("\n", "\\n")}"
                    client_certificate: required
            """);
        var (code, stdout, stderr) = await RunAsync("check", file);
        Assert.Empty(stderr);
        Assert.Equal(0, code);
        Assert.Contains("node (tcp server on 127.0.0.1:3036)", Assert.Single(stdout));
    }

    [Fact]
    public async Task Bad_tls_blocks_are_refused_at_the_key_with_what_is_wrong()
    {
        var (_, otherKey) = CertificateMaker.ToPem(TestCertificates.Client);
        var wrongKey = Write("client.key", otherKey);
        var notPem = Write("not.pem", "hello");
        var missing = _files.PathOf("missing.pem");
        var file = Write("bad.yaml", $"""
            stages:
              - name: a
                type: tcp_server
                config:
                  bind: 127.0.0.1:0
                  tls: {"{"}secure: true, certificate: {"{"}certificate_file: {missing}, private_key_file: {_key}{"}}"}
              - name: b
                type: tcp_server
                config:
                  bind: 127.0.0.1:0
                  tls: {"{"}secure: true, certificate: {"{"}certificate_file: {notPem}, private_key_file: {_key}{"}}"}
              - name: c
                type: tcp_server
                config:
                  bind: 127.0.0.1:0
                  tls: {"{"}secure: true, certificate: {"{"}certificate_file: {_cert}, private_key_file: {wrongKey}{"}}"}
              - name: d
                type: tcp_server
                config:
                  bind: 127.0.0.1:0
                  tls: {"{"}secure: true, client_certificate: sometimes{"}"}
              - name: e
                type: tcp_client
                config:
                  connect: 127.0.0.1:1
                  tls: {"{"}secure: true, client_certificate: required, server_name: gw.example{"}"}
            """);
        var (code, stdout, stderr) = await RunAsync("check", file);
        Assert.Equal(2, code);
        Assert.Empty(stdout);
        Assert.Collection(stderr,
            l => Assert.StartsWith($"{file}:6:41: stages[0].config.tls.certificate.certificate_file: '{missing}' cannot be read: no such file", l),
            l => Assert.StartsWith($"{file}:11:41: stages[1].config.tls.certificate.certificate_file: '{notPem}' is not a PEM certificate (expected a -----BEGIN CERTIFICATE----- block)", l),
            l => Assert.Equal($"{file}:16:{61 + _cert.Length}: stages[2].config.tls.certificate.private_key_file: '{wrongKey}' does not match the certificate (subject {TestCertificates.Server.Subject}); give the private key the certificate was issued for", l),
            l => Assert.Equal($"{file}:21:7: stages[3].config.tls.certificate: missing key 'certificate': a TLS server needs certificate_pem and private_key_pem (or certificate_file and private_key_file)", l),
            l => Assert.Equal($"{file}:21:27: stages[3].config.tls.client_certificate: 'sometimes' is not allowed (allowed: none, optional, required)", l),
            l => Assert.Equal($"{file}:26:27: stages[4].config.tls.client_certificate: 'required' only applies to server stages; a client stage presents its own certificate in 'certificate'", l),
            l => Assert.Equal($"ferry check: {file}: 6 problems; nothing was started", l));
    }

    [Fact]
    public async Task Tls_settings_without_secure_true_are_refused_by_check_instead_of_serving_plain_tcp()
    {
        var ca = Write("ca.pem", TestCertificates.AuthorityPem);
        var file = Write("nosecure.yaml", $"""
            stages:
              - name: front
                type: tcp_server
                config:
                  bind: 127.0.0.1:0
                  tls:
                    certificate: {"{"}certificate_file: {_cert}, private_key_file: {_key}{"}"}
                    ca_certificate_file: {ca}
                    client_certificate: required
              - name: back
                type: tcp_client
                config:
                  connect: 127.0.0.1:1
                  tls: {"{"}secure: false, server_name: gw.example{"}"}
              - name: plain
                type: tcp_server
                config:
                  bind: 127.0.0.1:0
                  tls: {"{"}secure: false, certificate: null, ca_certificate_pem: null, server_name: null, client_certificate: none, accept_invalid_certificates: false{"}"}
            """);
        var (code, stdout, stderr) = await RunAsync("check", file);
        Assert.Equal(2, code);
        Assert.Empty(stdout);
        Assert.Equal(
        [
            $"{file}:6:7: stages[0].config.tls.secure: missing key 'secure': without secure: true TLS is off (the stage would serve plain TCP), "
                + "but the block sets certificate, ca_certificate_file, client_certificate: set secure: true to serve TLS, or remove the TLS settings",
            $"{file}:14:13: stages[1].config.tls.secure: 'false' turns TLS off (the stage would serve plain TCP), "
                + "but the block sets server_name: set secure: true to serve TLS, or remove the TLS settings",
            $"ferry check: {file}: 2 problems; nothing was started",
        ], stderr);
    }

    [Fact]
    public async Task A_crl_in_the_tls_block_is_read_and_one_that_is_not_a_crl_is_refused_at_its_key()
    {
        var ca = Write("ca.pem", TestCertificates.AuthorityPem);
        var crl = Write("ca.crl", CertificateMaker.CreateRevocationList(TestCertificates.Authority, [TestCertificates.ExpiredClient], null, DateTimeOffset.UtcNow.AddDays(7)));
        var notCrl = Write("not.crl", TestCertificates.AuthorityPem);
        string Stage(string name, string crlFile) => $$"""
              - name: {{name}}
                type: tcp_server
                config:
                  bind: 127.0.0.1:0
                  tls: {secure: true, client_certificate: required, ca_certificate_file: {{ca}}, certificate_revocation_list_file: {{crlFile}}, certificate: {certificate_file: {{_cert}}, private_key_file: {{_key}}{{"}}"}}
            """;
        var good = Write("good.yaml", "stages:\n" + Stage("good", crl));
        var (code, _, stderr) = await RunAsync("check", good);
        Assert.True(code == 0, string.Join("\n", stderr));

        var bad = Write("bad-crl.yaml", "stages:\n" + Stage("bad", notCrl));
        (code, _, stderr) = await RunAsync("check", bad);
        Assert.Equal(2, code);
        var line = Assert.Single(stderr, l => l.Contains("certificate_revocation_list_file"));
        Assert.Contains($"stages[0].config.tls.certificate_revocation_list_file: '{notCrl}' holds no PEM CRL", line);
    }

    [Fact]
    public async Task A_seed_004_server_block_with_server_name_and_accept_invalid_certificates_runs_and_takes_an_untrusted_client_certificate()
    {
        // Seed 004's keys all set on a server: a CA, client certificates, the name clients dial, and (development) any client certificate.
        var file = Write("dev.yaml", $"""
            stages:
              - name: node
                type: tcp_server
                config:
                  host: 127.0.0.1
                  port: 0
                  tls:
                    secure: true
                    certificate:
                      certificate_file: {_cert}
                      private_key_file: {_key}
                    ca_certificate_pem: "{TestCertificates.AuthorityPem.Replace("\n", "\\n")}"
                    server_name: localhost
                    accept_invalid_certificates: true
                    client_certificate: required
            """);
        await using var run = RunningCommand.Start(null, "run", file);
        var at = await run.ListeningAsync("node");
        var now = DateTimeOffset.UtcNow;
        using var selfMade = CertificateMaker.CreateClient(null, "self-made", now.AddMinutes(-5), now.AddDays(1));
        await using (var client = await FramedTestClient.ConnectAsync(at, TestCertificates.TrustingClient(clientCertificate: selfMade)))
        {
            var connected = await run.Out.WaitJsonAsync(j => LineWriter.Is(j, "connected"), "the TLS connection with a self-signed client certificate");
            Assert.Equal("CN=self-made", connected.GetProperty("tls").GetProperty("peer_subject").GetString());
            Assert.Equal("localhost", connected.GetProperty("tls").GetProperty("server_name").GetString());
            await client.SendAsync("dev"u8.ToArray());
            await run.Out.WaitJsonAsync(j => LineWriter.Is(j, "packet") && j.GetProperty("text").GetString() == "dev", "the packet");
        }

        // A client that asks for another name is refused during the handshake.
        try
        {
            await using var stray = await FramedTestClient.ConnectAsync(at, new FramedTestClientOptions
            {
                Tls = new Ferry.Testing.TestClientTls { ServerName = "other.test", AcceptAnyServerCertificate = true, ClientCertificate = selfMade },
            });
            await stray.WaitClosedAsync();
        }
        catch (Exception ex) when (ex is System.Security.Authentication.AuthenticationException or IOException)
        {
        }
        var refused = await run.Out.WaitJsonAsync(j => LineWriter.Is(j, "disconnected") && j.GetProperty("reason").GetString() == "tls_error", "the refused name");
        Assert.Equal("name mismatch: the client asked for 'other.test' (SNI), this server is 'localhost' (tls.server_name)", refused.GetProperty("detail").GetString());
        Assert.Equal(0, await run.StopAsync());
    }

    [Fact]
    public async Task Server_name_and_accept_invalid_certificates_on_a_server_are_refused_at_their_key_when_they_cannot_mean_anything()
    {
        string Stage(string name, string tls) => $$"""
              - name: {{name}}
                type: tcp_server
                config:
                  bind: 127.0.0.1:0
                  tls:
                    secure: true
                    certificate: {certificate_file: {{_cert}}, private_key_file: {{_key}}}
            {{tls}}

            """;
        var file = Write("server-bad.yaml", "stages:\n"
            + Stage("a", "        accept_invalid_certificates: true")
            + Stage("b", "        server_name: gw.example")
            + Stage("c", "        server_name: gw example.com")
            // Accepting any client certificate needs no CA: not a problem.
            + Stage("d", "        client_certificate: optional\n        accept_invalid_certificates: true"));
        var (code, stdout, stderr) = await RunAsync("check", file);
        Assert.Equal(2, code);
        Assert.Empty(stdout);
        Assert.Equal(
        [
            $"{file}:9:9: stages[0].config.tls.accept_invalid_certificates: 'true' on a server accepts client certificates that fail their checks (development only), "
                + "but this server asks for none; set client_certificate to optional or required, or leave it false",
            $"{file}:17:9: stages[1].config.tls.server_name: 'gw.example' is not a name of the server's certificate (CN=localhost; names localhost, 127.0.0.1), "
                + "so clients reaching the server by that name would refuse it; set server_name to a name the certificate carries, or give a certificate issued for it",
            $"{file}:25:9: stages[2].config.tls.server_name: 'gw example.com' is not a DNS name or an IP address, so no client could reach the server by it; "
                + "give the name clients dial, which the server's certificate carries, e.g. gw.example.com",
            $"ferry check: {file}: 3 problems; nothing was started",
        ], stderr);
    }
}
