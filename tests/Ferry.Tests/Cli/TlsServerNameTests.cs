using Ferry.Tests.Support;

namespace Ferry.Tests.Cli;

/// <summary>A TLS server name that is no DNS name or IP address is refused where it is written, not met at every handshake.</summary>
public sealed class TlsServerNameTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("ferry-sni-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public async Task A_run_files_server_name_that_is_no_host_name_is_refused_at_its_key()
    {
        // Before: valid; the stage then failed every handshake with a name mismatch.
        var file = Path.Combine(_dir, "c.yaml");
        File.WriteAllText(file, """
            stages:
              - {name: c, type: tcp_client, config: {connect: 127.0.0.1:1, tls: {secure: true, server_name: "gw example.com"}}}
              - {name: d, type: tcp_client, config: {connect: 127.0.0.1:2, tls: {secure: true, server_name: gw-2.example.com}}}
              - {name: e, type: tcp_client, config: {connect: 127.0.0.1:3, tls: {secure: true, server_name: "::1"}}}
            """);
        var (code, _, stderr) = await CliRun.RunAsync("check", file);
        Assert.Equal(2, code);
        Assert.Equal(
        [
            $"{file}:2:84: stages[0].config.tls.server_name: 'gw example.com' is not a DNS name or an IP address, so no server certificate could match it; give the DNS name (or IP address) the server's certificate carries, e.g. gw.example.com",
            $"ferry check: {file}: 1 problem; nothing was started",
        ], stderr);
    }

    [Fact]
    public async Task Connects_tls_server_name_flag_that_is_no_host_name_is_refused()
    {
        // Before: ferry connect dialled and failed every handshake ("name mismatch … is not for 'localhost,127.0.0.1'").
        var (code, _, stderr) = await CliRun.RunAsync("connect", "127.0.0.1:1", "--tls-server-name", "localhost,127.0.0.1");
        Assert.Equal(2, code);
        Assert.Equal("ferry connect: --tls-server-name 'localhost,127.0.0.1' is not a DNS name or an IP address, so no server certificate could match it; give the DNS name (or IP address) the server's certificate carries, e.g. gw.example.com",
            Assert.Single(stderr));
    }
}
