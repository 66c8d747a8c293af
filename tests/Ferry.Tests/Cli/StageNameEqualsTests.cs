using Ferry.Tests.Support;

namespace Ferry.Tests.Cli;

/// <summary>
/// A stage name with '=' is refused at the name: --set ends its key at the first '=' (a value may hold '=', as a framing spec
/// does), so such a stage could not be set by name, and no FERRY__ variable name can hold '='.
/// </summary>
public sealed class StageNameEqualsTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("ferry-name-equals-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public async Task A_name_with_equals_is_refused_at_the_name_with_why()
    {
        var file = Path.Combine(_dir, "f.yaml");
        File.WriteAllText(file, "stages:\n  - {name: a=b, type: tcp_server, config: {bind: '127.0.0.1:0'}}\n");
        var (code, stdout, stderr) = await CliRun.RunAsync("check", file);
        Assert.Equal(2, code);
        Assert.Empty(stdout);
        Assert.Equal($"{file}:2:6: stages[0].name: 'a=b' is not allowed; a stage name has no '=': --set stages.NAME.config.KEY=VALUE ends the key at the first '=', "
            + "so the stage could not be set by name (and no FERRY__ variable can hold one)", stderr[0]);
    }

    [Fact]
    public async Task A_value_with_equals_still_reaches_a_stage_by_name()
    {
        var file = Path.Combine(_dir, "g.yaml");
        File.WriteAllText(file, "stages:\n  - {name: front, type: tcp_server, config: {bind: '127.0.0.1:0'}}\n");
        var (code, stdout, stderr) = await CliRun.RunAsync("check", file, "--set", "stages.front.config.framing=delimiter,delimiter=;");
        Assert.True(code == 0, string.Join(" | ", stderr));
        Assert.Contains("front (tcp server on 127.0.0.1:0)", Assert.Single(stdout));
    }
}
