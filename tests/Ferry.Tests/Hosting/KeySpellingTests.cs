using Ferry.Tests.Support;

namespace Ferry.Tests.Hosting;

/// <summary>
/// Keys match whatever their spelling, so a "did you mean" and an allowed-key list speak the user's: PascalCase to a
/// PascalCase appsettings.json or YAML file, snake_case to a snake_case one.
/// </summary>
public sealed class KeySpellingTests
{
    private static Task<IReadOnlyList<string>> HostFailuresAsync(string appsettings) => HostStartFailures.OfAsync(appsettings);

    [Fact]
    public async Task A_pascal_case_appsettings_key_is_told_the_pascal_case_key_and_list()
    {
        var failures = await HostFailuresAsync("""
            { "Ferry": { "Stages": { "front": { "Type": "tcp_server", "Bind": "127.0.0.1:0", "MaxConections": 5 } } } }
            """);
        var line = Assert.Single(failures, f => f.Contains("MaxConections"));
        Assert.Contains("unknown key 'MaxConections' in a tcp_server stage (did you mean 'MaxConnections'?) (allowed: Name, Type, Mode, Config, Bind, Host, Port, Backlog, MaxConnections,", line);
        Assert.DoesNotContain("max_connections", line);
    }

    [Fact]
    public async Task Keys_in_a_config_block_and_at_the_top_follow_the_user_too()
    {
        var failures = await HostFailuresAsync("""
            { "Ferry": { "Stagez": {}, "Stages": { "back": { "Type": "tcp_client", "Config": { "Connect": "127.0.0.1:1", "ReconectWait": "1s" } } } } }
            """);
        Assert.Contains(failures, f => f.Contains("unknown key 'ReconectWait' in a tcp_client stage (did you mean 'ReconnectWait'?) (allowed: Connect, Host, Port, LocalBind,"));
        Assert.Contains(failures, f => f.Contains("unknown key 'Stagez' (did you mean 'Stages'?) (allowed: Stages, Bus)"));
    }

    [Fact]
    public async Task A_snake_case_appsettings_key_is_told_the_snake_case_key()
    {
        var failures = await HostFailuresAsync("""
            { "Ferry": { "Stages": { "front": { "type": "tcp_server", "bind": "127.0.0.1:0", "max_conections": 5 } } } }
            """);
        Assert.Contains(failures, f => f.Contains("unknown key 'max_conections' in a tcp_server stage (did you mean 'max_connections'?) (allowed: name, type, mode, config, bind,"));
    }

    [Fact]
    public async Task A_pascal_case_pipeline_file_is_told_in_pascal_case_too()
    {
        var file = Path.Combine(Directory.CreateTempSubdirectory("ferry-spelling-").FullName, "f.yaml");
        try
        {
            File.WriteAllText(file, """
                Stages:
                  - Name: front
                    Type: tcp_server
                    Config: {Bind: "127.0.0.1:0", IdleTimout: 5s}
                """);
            var (code, _, stderr) = await CliRun.RunAsync("check", file);
            Assert.Equal(2, code);
            Assert.Contains(stderr, l => l.Contains("unknown key 'IdleTimout' in a tcp_server stage (did you mean 'IdleTimeout'?) (allowed: Bind, Host, Port,"));
        }
        finally
        {
            Directory.Delete(Path.GetDirectoryName(file)!, recursive: true);
        }
    }
}
