using Ferry.Tests.Support;

namespace Ferry.Tests.Cli;

/// <summary>
/// A <c>tcp_server</c> stage must say where it listens, as seeds 003 (<c>bind</c>) and 004 (<c>host</c>, <c>port</c>) require
/// and README's table says (no default): one without used to listen on 127.0.0.1:9000 silently. An empty <c>host</c> used
/// to listen on every interface; it is refused, saying how to ask for every interface. <c>ferry serve</c>'s default
/// (<c>--bind 127.0.0.1:9000</c>, README's first command) is a flag's, and stays.
/// </summary>
public sealed class ServerBindRequiredTests : IDisposable
{
    private readonly ScratchFiles _files = new("ferry-bind-required-");

    public void Dispose() => _files.Dispose();

    [Fact]
    public async Task A_server_stage_without_bind_is_refused_saying_what_to_give()
    {
        var file = _files.Write("nobind.yaml", """
            stages:
              - {name: front, type: tcp_server, config: {framing: lines}}
            """);
        var (code, stdout, stderr) = await CliRun.RunAsync("check", file);
        Assert.Equal(2, code);
        Assert.Empty(stdout);
        Assert.Equal(
        [
            $"{file}:2:5: stages[0].config.bind: missing key 'bind' (a tcp server needs the address it listens on, e.g. \"127.0.0.1:9000\", or \":9000\" for every interface; or host and port)",
            $"ferry check: {file}: 1 problem; nothing was started",
        ], stderr);
    }

    [Theory]
    [InlineData("\"\"")]
    [InlineData("\" \"")]
    public async Task An_empty_host_is_refused_rather_than_listening_on_every_interface(string host)
    {
        var file = _files.Write("emptyhost.yaml", $$$"""
            stages:
              - {name: front, type: tcp_server, config: {host: {{{host}}}, port: 27021}}
            """);
        var (code, _, stderr) = await CliRun.RunAsync("check", file);
        Assert.Equal(2, code);
        Assert.Equal($"{file}:2:46: stages[0].config.host: '{host.Trim('"')}' is empty; give the address to listen on, e.g. 127.0.0.1, or 0.0.0.0 (IPv4) or :: (IPv6) for every interface",
            stderr[0]);
    }

    [Fact]
    public async Task An_empty_host_of_a_client_stage_is_refused_too()
    {
        var file = _files.Write("emptyclient.yaml", """
            stages:
              - {name: back, type: tcp_client, config: {host: "", port: 27022}}
            """);
        var (code, _, stderr) = await CliRun.RunAsync("check", file);
        Assert.Equal(2, code);
        Assert.Equal($"{file}:2:45: stages[0].config.host: '' is empty; give the remote host, e.g. 10.0.1.5 or db.example", stderr[0]);
    }

    [Theory]
    [InlineData("{host: 0.0.0.0, port: 27023}", "0.0.0.0:27023")]
    [InlineData("{host: '::', port: 27023}", "[::]:27023")]
    [InlineData("{bind: ':27023'}", ":27023")]
    public async Task Every_interface_is_asked_for_in_words_that_say_so(string config, string shown)
    {
        var file = _files.Write("any.yaml", $$$"""
            stages:
              - {name: front, type: tcp_server, config: {{{config}}}}
            """);
        var (code, stdout, stderr) = await CliRun.RunAsync("check", file);
        Assert.True(code == 0, string.Join("\n", stderr));
        Assert.Contains($"front (tcp server on {shown})", Assert.Single(stdout));
    }
}
