using System.Text;
using Ferry.Hosting;
using Ferry.Stages;
using Ferry.Tests.Support;
using Ferry.Transport;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace Ferry.Tests.Hosting;

/// <summary>
/// The stage options' own checks are read by two kinds of user. A developer who set the options in code is told the C# property
/// (<c>TcpServerStageOptions.MaxConnections</c>), in the exception and in a host's validation; a user of appsettings.json or of a
/// run file is told the key as they wrote it, also for a check whose key they did not write and for the other keys a message names.
/// </summary>
public sealed class OptionProblemWordsTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("ferry-option-words-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private const string Crl = "-----BEGIN X509 CRL-----\nAAAA\n-----END X509 CRL-----\n";

    private static async Task<IReadOnlyList<string>> HostFailuresAsync(Action<HostApplicationBuilder> configure)
    {
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        configure(builder);
        using var host = builder.Build();
        var error = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync());
        Assert.Empty(host.Services.GetRequiredService<FerryStages>().Servers);
        return error.Failures.ToList();
    }

    [Fact]
    public void Options_set_in_code_are_told_their_properties()
    {
        var server = Assert.Throws<StageOptionsException>(() => new TcpServerStageOptions
        {
            Name = "pos", MaxConnections = -1, Backlog = 0, BindRetryDelay = TimeSpan.FromMinutes(1), ProxyProtocol = ProxyProtocol.V1,
        }.Validate());
        Assert.Equal(
        [
            "TcpServerStageOptions.Backlog: 0 is not allowed; must be from 1 to 65535",
            "TcpServerStageOptions.TrustedProxies: must name at least one proxy address or network when ProxyProtocol is v1 (a header is believed only from them)",
            "TcpServerStageOptions.MaxConnections: -1 is not allowed; must be 0 (unlimited) or more",
            "TcpServerStageOptions.BindRetryDelay: 1m is longer than 'BindRetryMaxDelay' 5s; lower BindRetryDelay or raise BindRetryMaxDelay",
        ], server.Problems);
        Assert.StartsWith("stage 'pos': TcpServerStageOptions.Backlog: 0 is not allowed", server.Message);

        var client = Assert.Throws<StageOptionsException>(() => new TcpClientStageOptions
        {
            Connect = "127.0.0.1:1", Transport = StageTransport.Epoll,
            Tls = new TlsOptions { Secure = true, CertificateRevocationListPem = Crl },
        }.Validate());
        Assert.Equal(
        [
            "TcpClientStageOptions.Transport: a client stage's TLS runs on the stream transport; use stream (or auto) with 'Tls'",
            "TcpClientStageOptions.Tls.CertificateRevocationList: applies to server stages asking for client certificates (Tls.ClientCertificate required or optional)",
            "TcpClientStageOptions.Tls.CertificateRevocationList: needs the CA bundle (Tls.CaCertificatePem or Tls.CaCertificateFile) whose CRL it is",
        ], client.Problems);
    }

    [Fact]
    public async Task A_stage_added_in_code_fails_the_host_naming_its_properties()
    {
        var failures = await HostFailuresAsync(b => b.Services.AddTcpServerStage("front", o => o with
        {
            Bind = "127.0.0.1:0", MaxConnections = -1, GroupSize = 0, BindRetryDelay = TimeSpan.FromMinutes(1),
        }));
        Assert.Equal(
        [
            "AddTcpServerStage(\"front\"): TcpServerStageOptions.GroupSize: 0 is not allowed; must be from 1 to 65536",
            "AddTcpServerStage(\"front\"): TcpServerStageOptions.MaxConnections: -1 is not allowed; must be 0 (unlimited) or more",
            "AddTcpServerStage(\"front\"): TcpServerStageOptions.BindRetryDelay: 1m is longer than 'BindRetryMaxDelay' 5s; lower BindRetryDelay or raise BindRetryMaxDelay",
        ], failures);
    }

    [Fact]
    public async Task An_appsettings_stage_is_told_its_keys_as_written_also_for_the_options_own_checks()
    {
        var failures = await HostFailuresAsync(b =>
        {
            b.Configuration.AddJsonStream(new MemoryStream(Encoding.UTF8.GetBytes($$"""
                { "Ferry": { "Stages": {
                  "front": { "Type": "tcp_server", "Bind": "127.0.0.1:0", "ProxyProtocol": "v1", "MaxPendingBytes": "100" },
                  "back": { "Type": "tcp_client", "Connect": "127.0.0.1:1", "Transport": "epoll",
                            "Tls": { "Secure": true, "CertificateRevocationListPem": "{{Crl.Replace("\n", "\\n")}}" } } } } }
                """)));
            b.Services.AddFerry(b.Configuration.GetSection("Ferry"));
        });
        Assert.Equal(
        [
            // Configuration lists a section's keys in order (back before front).
            "configuration 'Ferry:Stages:back:Transport': Stages.back.Transport: 'epoll' a client stage's TLS runs on the stream transport; use stream (or auto) with 'Tls'",
            "configuration 'Ferry:Stages:back:Tls': Stages.back.Tls: CertificateRevocationList: applies to server stages asking for client certificates (Tls.ClientCertificate required or optional)",
            "configuration 'Ferry:Stages:back:Tls': Stages.back.Tls: CertificateRevocationList: needs the CA bundle (Tls.CaCertificatePem or Tls.CaCertificateFile) whose CRL it is",
            "configuration 'Ferry:Stages:front:MaxPendingBytes': Stages.front.MaxPendingBytes: '100' is not allowed; must be 0 (no limit) or at least 4096",
            "configuration 'Ferry:Stages:front': Stages.front: TrustedProxies: must name at least one proxy address or network when ProxyProtocol is v1 (a header is believed only from them)",
        ], failures);
    }

    [Fact]
    public async Task A_run_file_stage_is_told_its_keys_as_written_also_for_the_options_own_checks()
    {
        var file = Path.Combine(_dir, "f.yaml");
        File.WriteAllText(file, $"""
            stages:
              - name: front
                type: tcp_server
                config: {"{"}bind: "127.0.0.1:0", proxy_protocol: v1, max_pending_bytes: 100{"}"}
              - name: back
                type: tcp_client
                config:
                  connect: 127.0.0.1:1
                  transport: epoll
                  tls: {"{"}secure: true, certificate_revocation_list_pem: "{Crl.Replace("\n", "\\n")}"{"}"}
            """);
        var (code, _, stderr) = await CliRun.RunAsync("check", file);
        Assert.Equal(2, code);
        Assert.Equal(
        [
            $"{file}:2:5: stages[0]: trusted_proxies: must name at least one proxy address or network when proxy_protocol is v1 (a header is believed only from them)",
            $"{file}:4:55: stages[0].config.max_pending_bytes: '100' is not allowed; must be 0 (no limit) or at least 4096",
            $"{file}:9:7: stages[1].config.transport: 'epoll' a client stage's TLS runs on the stream transport; use stream (or auto) with 'tls'",
            $"{file}:10:7: stages[1].config.tls: certificate_revocation_list: applies to server stages asking for client certificates (tls.client_certificate required or optional)",
            $"{file}:10:7: stages[1].config.tls: certificate_revocation_list: needs the CA bundle (tls.ca_certificate_pem or tls.ca_certificate_file) whose CRL it is",
            $"ferry check: {file}: 5 problems; nothing was started",
        ], stderr);
    }
}
