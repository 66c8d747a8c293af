using Ferry.Tests.Support;

namespace Ferry.Tests.Cli;

/// <summary>
/// A stage written as an alias of a whole stage (<c>- *front</c>) repeats its name. Old code said "'a' is already the name
/// of the stage at 3:5" at 3:5: the anchor's name line twice, and nothing about the alias that caused it.
/// </summary>
public sealed class WholeStageAliasTests : IDisposable
{
    private readonly ScratchFiles _files = new("ferry-stage-alias-");

    public void Dispose() => _files.Dispose();

    [Fact]
    public async Task Is_told_at_the_alias_with_the_stage_it_repeats_and_what_to_write_instead()
    {
        var file = _files.Write("alias.yaml", """
            stages:
              - &front
                name: a
                type: tcp_server
                config:
                  bind: 127.0.0.1:0
              - name: b
                type: tcp_server
                config: {bind: 127.0.0.1:0}
              - *front
            """);
        var (code, stdout, stderr) = await CliRun.RunAsync("check", file);
        Assert.Equal(2, code);
        Assert.Empty(stdout);
        Assert.Equal(
        [
            $"{file}:10:5: stages[2]: is an alias of the whole stage at {file}:2:5, so it repeats its name 'a'; stage names must be unique "
                + "(their topics would merge): write this stage out with a name of its own, or repeat only its settings (config: *common)",
            $"ferry check: {file}: 1 problem; nothing was started",
        ], stderr);
    }

    [Fact]
    public async Task A_problem_inside_an_aliased_item_is_still_told_where_its_anchor_wrote_it()
    {
        // Only the item's own place moves to the alias; the keys it repeats are where they are written.
        var file = _files.Write("inner.yaml", """
            stages:
              - name: a
                type: tcp_server
                config: &c
                  bind: 127.0.0.1:0
                  idle_timeout: soon
              - name: b
                type: tcp_server
                config: *c
            """);
        var (code, _, stderr) = await CliRun.RunAsync("check", file);
        Assert.Equal(2, code);
        Assert.Equal(2, stderr.Count(l => l.StartsWith($"{file}:6:7: ", StringComparison.Ordinal) && l.Contains("idle_timeout", StringComparison.Ordinal)));
    }
}
