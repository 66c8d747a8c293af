using System.Text.RegularExpressions;
using Ferry.Tests.Support;

namespace Ferry.Tests.Cli;

/// <summary>
/// A run file's message that names another key names it as the file spells keys: snake_case (the ferry's own) in a snake_case
/// file, kebab-case or camelCase in one written so. Each case has the whole line after its file:line:column.
/// </summary>
public sealed partial class PipelineKeySpellingMessageTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("ferry-spelling-messages-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    /// <summary>ferry check's lines for a file of the one stage <paramref name="stage"/>, without their file:line:column.</summary>
    private async Task<List<string>> CheckAsync(string stage)
    {
        var file = Path.Combine(_dir, "f.yaml");
        File.WriteAllText(file, $"stages:\n  - {stage}\n");
        var (code, _, stderr) = await CliRun.RunAsync("check", file);
        Assert.Equal(2, code);
        return stderr.Select(l => l.StartsWith(file, StringComparison.Ordinal) ? Location().Replace(l[file.Length..], "", 1) : l).ToList();
    }

    [GeneratedRegex(@"^:\d+:\d+: ")]
    private static partial Regex Location();

    [Theory]
    [InlineData("{name: s, type: tcp_server, bind: ':0', tls: 'yes'}",
        "stages[0].tls: 'yes' must be a block (secure, certificate, ca_certificate_pem, ca_certificate_file, server_name, accept_invalid_certificates, client_certificate, "
        + "handshake_timeout, certificate_revocation_list_pem, certificate_revocation_list_file)")]
    [InlineData("{name: c, type: tcp_client, connect: '127.0.0.1:1', tls: {secure: true, client_certificate: required}}",
        "stages[0].tls.client_certificate: 'required' only applies to server stages; a client stage presents its own certificate in 'certificate'")]
    [InlineData("{name: s, type: tcp_server, bind: ':0', tls: {secure: true, accept_invalid_certificates: true}}",
        "stages[0].tls.accept_invalid_certificates: 'true' on a server accepts client certificates that fail their checks (development only), but this server asks for none; "
        + "set client_certificate to optional or required, or leave it false")]
    [InlineData("{name: c, type: tcp_client, connect: '127.0.0.1:1', tls: {secure: true, ca_certificate_pem: x, ca_certificate_file: y}}",
        "stages[0].tls.ca_certificate_file: 'y' cannot be combined with 'ca_certificate_pem'; give one of them")]
    [InlineData("{name: s, type: tcp_server, bind: ':0', tls: {secure: true}}",
        "stages[0].tls.certificate: missing key 'certificate': a TLS server needs certificate_pem and private_key_pem (or certificate_file and private_key_file)")]
    [InlineData("{name: s, type: tcp_server, bind: ':0', tls: {secure: true, client_certificate: required}}",
        "stages[0].tls.client_certificate: 'required' needs ca_certificate_pem or ca_certificate_file (the CA client certificates must chain to)")]
    [InlineData("{name: c, type: tcp_client, connect: '127.0.0.1:1', tls: {server_name: db.example}}",
        "stages[0].tls.secure: missing key 'secure': without secure: true TLS is off (the stage would serve plain TCP), but the block sets server_name: "
        + "set secure: true to serve TLS, or remove the TLS settings")]
    [InlineData("{name: s, type: tcp_server, bind: ':0', tls: {secure: true, certificate: {certificate_file: y}}}",
        "stages[0].tls.certificate.private_key_pem: missing key 'private_key_pem' (or 'private_key_file'): the private key as PEM text (or a PEM file)")]
    [InlineData("{name: s, type: tcp_server, bind: ':0', port: 9000}",
        "stages[0].bind: ':0' cannot be combined with 'port': give bind, or host and port, not both")]
    [InlineData("{name: s, type: tcp_server, idle_timeout: 1s, timeout_seconds: 1, bind: ':0'}",
        "stages[0].timeout_seconds: '1' cannot be combined with 'idle_timeout': give idle_timeout or timeout_seconds, not both")]
    [InlineData("{name: c, type: tcp_client, connect: '127.0.0.1:1', reconnect_wait: 10s, reconnect_max_wait: 1s}",
        "stages[0].reconnect_wait: '10s' is above reconnect_max_wait '1s'; the first wait must not be above the cap: lower reconnect_wait or raise reconnect_max_wait")]
    [InlineData("{name: s, type: tcp_server, mode: client, bind: ':0'}",
        "stages[0].mode: 'client' contradicts type 'tcp_server'; leave mode out, or use type io_tcp")]
    [InlineData("{name: s, type: tcp_server, bind: ':0', tls: {secure: true, certificate_pem: x, private_key_pem: y}}",
        "stages[0].tls.certificate_pem: unknown key 'certificate_pem' in the tls block: the certificate and its key go in the tls block's own certificate block: "
        + "certificate: {certificate_pem: …, private_key_pem: …} (allowed: secure, certificate, ca_certificate_pem, ca_certificate_file, server_name, "
        + "accept_invalid_certificates, client_certificate, handshake_timeout, certificate_revocation_list_pem, certificate_revocation_list_file)")]
    // The same families in a file that spells keys otherwise.
    [InlineData("{name: c, type: tcp_client, connect: '127.0.0.1:1', tls: {secure: true, ca-certificate-pem: x, ca-certificate-file: y}}",
        "stages[0].tls.ca-certificate-file: 'y' cannot be combined with 'ca-certificate-pem'; give one of them")]
    [InlineData("{name: s, type: tcp_server, bind: ':0', tls: {secure: true, client-certificate: required}}",
        "stages[0].tls.client-certificate: 'required' needs ca-certificate-pem or ca-certificate-file (the CA client certificates must chain to)")]
    [InlineData("{name: s, type: tcp_server, bind: ':0', tls: {secure: true, accept-invalid-certificates: true}}",
        "stages[0].tls.accept-invalid-certificates: 'true' on a server accepts client certificates that fail their checks (development only), but this server asks for none; "
        + "set client-certificate to optional or required, or leave it false")]
    [InlineData("{name: s, type: tcp_server, bind: ':0', max-connections: 5, tls: {secure: true}}",
        "stages[0].tls.certificate: missing key 'certificate': a TLS server needs certificate-pem and private-key-pem (or certificate-file and private-key-file)")]
    [InlineData("{name: s, type: tcp_server, idleTimeout: 1s, timeoutSeconds: 1, bind: ':0'}",
        "stages[0].timeoutSeconds: '1' cannot be combined with 'idleTimeout': give idleTimeout or timeoutSeconds, not both")]
    [InlineData("{name: c, type: tcp_client, connect: '127.0.0.1:1', reconnectWait: 10s, reconnectMaxWait: 1s}",
        "stages[0].reconnectWait: '10s' is above reconnectMaxWait '1s'; the first wait must not be above the cap: lower reconnectWait or raise reconnectMaxWait")]
    [InlineData("{name: s, type: tcp_server, bind: ':0', bind-retry-delay: 10s, bind-retry-max-delay: 1s}",
        "stages[0].bind-retry-delay: '10s' is above bind-retry-max-delay '1s'; the first wait must not be above the cap: lower bind-retry-delay or raise bind-retry-max-delay")]
    public async Task A_run_file_is_told_the_other_keys_in_its_own_spelling(string stage, string expected)
    {
        var lines = await CheckAsync(stage);
        Assert.Contains(expected, lines);
    }
}
