using Ferry.Tests.Support;

namespace Ferry.Tests.Cli;

/// <summary>
/// A server's listening host that does not resolve is a mistake in what was written: <c>ferry check</c> passed it,
/// <c>ferry run</c> exited 1 (try again) once it came to bind, and <c>ferry serve</c> retried it for ever. Now it is a
/// problem at its key with the others (exit 2, nothing started) and a one-line usage error of <c>serve</c>. The names
/// end in <c>.invalid</c>, which never resolves (RFC 6761): no external DNS is asked anything that could answer.
/// </summary>
public sealed class BindHostResolveTests : IDisposable
{
    private const string Allowed = "use an IP address of this machine (e.g. 127.0.0.1), localhost, a name that resolves, or :9000 for every interface";

    private readonly ScratchFiles _files = new("ferry-bind-host-");

    public void Dispose() => _files.Dispose();

    private string File(string config) => _files.Write("f.yaml", $$$"""
        stages:
          - {name: front, type: tcp_server, config: {{{config}}}}
          - {name: back, type: tcp_client, config: {connect: "127.0.0.1:1", idle_timeout: NaN}}
        """);

    [Theory]
    [InlineData("check")]
    [InlineData("run")]
    public async Task A_bind_host_that_does_not_resolve_is_listed_with_the_other_problems_and_nothing_starts(string verb)
    {
        var file = File("{bind: \"no-such-host.invalid:9000\"}");
        var (code, stdout, stderr) = await CliRun.RunAsync(verb, file);
        Assert.Equal(2, code);
        Assert.Empty(stdout);
        Assert.Equal(
        [
            $"{file}:2:46: stages[0].config.bind: 'no-such-host.invalid:9000' names the host 'no-such-host.invalid', which does not resolve (HostNotFound); {Allowed}",
            $"{file}:3:69: stages[1].config.idle_timeout: 'NaN' is not a duration; use e.g. 30s, 500ms, 2m, 1h or 0",
            $"ferry {verb}: {file}: 2 problems; nothing was started",
        ], stderr);
    }

    [Fact]
    public async Task Seed_004s_host_that_does_not_resolve_is_said_at_host()
    {
        var file = File("{host: no-such-host.invalid, port: 9000}");
        var (code, _, stderr) = await CliRun.RunAsync("check", file);
        Assert.Equal(2, code);
        Assert.Equal($"{file}:2:46: stages[0].config.host: 'no-such-host.invalid' does not resolve (HostNotFound); {Allowed}", stderr[0]);
    }

    [Theory]
    [InlineData("{bind: \"localhost:0\"}")]
    [InlineData("{bind: \"127.0.0.1:0\"}")]
    [InlineData("{bind: \"[::1]:0\"}")]
    [InlineData("{bind: \":0\"}")]
    public async Task Addresses_and_localhost_pass_without_asking_a_resolver(string config)
    {
        var file = _files.Write("ok.yaml", $$$"""
            stages:
              - {name: front, type: tcp_server, config: {{{config}}}}
            """);
        var (code, _, stderr) = await CliRun.RunAsync("check", file);
        Assert.True(code == 0, string.Join("\n", stderr));
    }

    [Fact]
    public async Task Serve_refuses_a_bind_host_that_does_not_resolve_instead_of_retrying_for_ever()
    {
        // Before: "cannot listen …: the name 'no-such-host.invalid' does not resolve (HostNotFound); retrying in 100 ms",
        // for ever (CliRun's deadline ended it).
        var (code, stdout, stderr) = await CliRun.RunAsync("serve", "--bind", "no-such-host.invalid:9000");
        Assert.Equal(2, code);
        Assert.Empty(stdout);
        Assert.Equal($"ferry serve: --bind 'no-such-host.invalid:9000' names the host 'no-such-host.invalid', which does not resolve (HostNotFound); {Allowed}",
            Assert.Single(stderr));
    }
}
