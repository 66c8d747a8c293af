using Ferry.Tests.Support;

namespace Ferry.Tests.Cli;

/// <summary>A key of another kind of stage (bind in a tcp_client) says where it belongs and what to write instead.</summary>
public sealed class OtherKindKeyTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("ferry-other-kind-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private async Task<List<string>> CheckAsync(string yaml)
    {
        var file = Path.Combine(_dir, "f.yaml");
        File.WriteAllText(file, yaml);
        var (code, _, stderr) = await CliRun.RunAsync("check", file);
        Assert.Equal(2, code);
        return stderr;
    }

    [Theory]
    [InlineData("{name: c, type: tcp_client, config: {bind: '127.0.0.1:9000'}}",
        "unknown key 'bind' in a tcp_client stage: a tcp_client does not listen, it connects: give where to as connect: HOST:PORT, and its own local address, if it needs one, as local_bind: HOST:PORT (allowed: ")]
    [InlineData("{name: c, type: tcp_client, bind: '127.0.0.1:9000'}",
        "unknown key 'bind' in a tcp_client stage: a tcp_client does not listen, it connects: give where to as connect: HOST:PORT")]
    [InlineData("{Name: c, Type: tcp_client, Config: {Bind: '127.0.0.1:9000'}}",
        "unknown key 'Bind' in a tcp_client stage: a tcp_client does not listen, it connects: give where to as Connect: HOST:PORT, and its own local address, if it needs one, as LocalBind: HOST:PORT")]
    [InlineData("{name: s, type: tcp_server, config: {connect: '127.0.0.1:9000'}}",
        "unknown key 'connect' in a tcp_server stage: a tcp_server does not connect, it listens: give its address as bind: HOST:PORT (a tcp_client connects)")]
    [InlineData("{name: s, type: tcp_server, config: {bind: ':0', reconnect_wait: 1s}}",
        "unknown key 'reconnect_wait' in a tcp_server stage: 'reconnect_wait' is a key of tcp_client stages, not of tcp_server ones")]
    [InlineData("{name: c, type: tcp_client, config: {connect: '127.0.0.1:1', max_connections: 3}}",
        "unknown key 'max_connections' in a tcp_client stage: 'max_connections' is a key of tcp_server stages, not of tcp_client ones")]
    // A key both TCP stages take was said as the server's alone.
    [InlineData("{name: b, type: bridge_client, config: {address: 127.0.0.1, port: 9000, framing: lines}}",
        "unknown key 'framing' in a bridge_client stage: 'framing' is a key of tcp_server and tcp_client stages, not of bridge_client ones")]
    [InlineData("{name: b, type: bridge_server, config: {bind: '127.0.0.1:9000'}}",
        "unknown key 'bind' in a bridge_server stage: a bridge end's address is address: HOST with port: PORT (it uses PORT and PORT+1)")]
    public async Task A_key_of_another_kind_of_stage_says_where_it_belongs(string stage, string expected)
    {
        var stderr = await CheckAsync($"stages:\n  - {stage}\n");
        Assert.Contains(stderr, l => l.Contains(expected, StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_plain_typo_still_gets_did_you_mean()
    {
        var stderr = await CheckAsync("stages:\n  - {name: c, type: tcp_client, config: {conect: '127.0.0.1:1'}}\n");
        Assert.Contains(stderr, l => l.Contains("unknown key 'conect' in a tcp_client stage (did you mean 'connect'?)", StringComparison.Ordinal));
    }
}
