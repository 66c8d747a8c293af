using Ferry.Tests.Support;

namespace Ferry.Tests.Cli;

/// <summary>
/// An alias that names no anchor written above it is a problem at its key, like any bad value, and the rest of the file is
/// still validated. Old code: YamlDotNet's loader stopped the whole reading with "file:1:1: (file): is not valid YAML or
/// JSON: The anchor 'nope' does not exists": the wrong place, no key, and the file's other mistakes came out one run later.
/// </summary>
public sealed class AliasWithoutAnchorTests : IDisposable
{
    private readonly ScratchFiles _files = new("ferry-anchors-");

    public void Dispose() => _files.Dispose();

    /// <summary>A server stage's bind skipped with its alias is missing too: bind is required.</summary>
    private static string NoBind(string where) =>
        $"{where}: stages[0].config.bind: missing key 'bind' (a tcp server needs the address it listens on, e.g. \"127.0.0.1:9000\", or \":9000\" for every interface; or host and port)";

    private static string NoAnchor(string where, string key, string name) =>
        $"{where}: {key}: '*{name}' names no anchor: an alias stands for the value of the '&{name}' written above it in this file, and there is none; "
        + $"write the value here, or put &{name} on the value it is to repeat";

    [Fact]
    public async Task An_alias_value_without_its_anchor_is_told_at_its_key_with_the_files_other_problems()
    {
        var file = _files.Write("value.yaml", """
            stages:
              - name: front
                type: tcp_server
                config:
                  bind: *address
                  framing: lins
            """);
        string[] expected =
        [
            NoBind($"{file}:2:5"),
            NoAnchor($"{file}:5:13", "stages[0].config.bind", "address"),
            $"{file}:6:7: stages[0].config.framing: 'lins' is not a framing (did you mean 'lines'?) (allowed: delimiter, fixed, header, length, lines, mux, raw, text-length, u16be, u32be, zmtp) (see docs/framing.md)",
        ];
        var (code, stdout, stderr) = await CliRun.RunAsync("check", file);
        Assert.Equal(2, code);
        Assert.Empty(stdout);
        Assert.Equal([.. expected, $"ferry check: {file}: 3 problems; nothing was started"], stderr);

        (code, stdout, stderr) = await CliRun.RunAsync("run", file);
        Assert.Equal(2, code);
        Assert.Empty(stdout);
        Assert.Equal([.. expected, $"ferry run: {file}: 3 problems; nothing was started"], stderr);
    }

    [Fact]
    public async Task As_a_key_or_a_list_item_it_is_skipped_with_what_it_stands_in_and_the_items_after_it_keep_their_place()
    {
        var file = _files.Write("places.yaml", """
            stages:
              - *first
              - name: front
                type: tcp_server
                config:
                  *key : 1
                  bind: 127.0.0.1:19000
              - name: back
                type: tcp_server
                config: {bind: "127.0.0.1:19001", framing: lins}
            """);
        var (code, _, stderr) = await CliRun.RunAsync("check", file);
        Assert.Equal(2, code);
        Assert.Equal(
        [
            NoAnchor($"{file}:2:5", "stages[0]", "first"),
            NoAnchor($"{file}:6:7", "stages[1].config", "key"),
            $"{file}:10:39: stages[2].config.framing: 'lins' is not a framing (did you mean 'lines'?) (allowed: delimiter, fixed, header, length, lines, mux, raw, text-length, u16be, u32be, zmtp) (see docs/framing.md)",
            $"ferry check: {file}: 3 problems; nothing was started",
        ], stderr);
    }

    [Fact]
    public async Task An_anchor_written_only_below_its_alias_is_none_for_it_and_one_above_still_works()
    {
        var file = _files.Write("order.yaml", """
            stages:
              - name: front
                type: tcp_server
                config:
                  bind: *later
                  framing: &framing lines
              - name: back
                type: tcp_server
                config:
                  bind: &later 127.0.0.1:19001
                  framing: *framing
            """);
        var (code, _, stderr) = await CliRun.RunAsync("check", file);
        Assert.Equal(2, code);
        Assert.Equal([NoBind($"{file}:2:5"), NoAnchor($"{file}:5:13", "stages[0].config.bind", "later"), $"ferry check: {file}: 2 problems; nothing was started"], stderr);
    }

    [Fact]
    public async Task In_a_json_file_an_alias_is_told_the_same_way()
    {
        // JSON has no aliases, but a pipeline file is read as YAML, of which JSON is a part: *x outside quotes is one.
        var file = _files.Write("alias.json", """{"stages": [{"name": "front", "type": "tcp_server", "config": {"bind": *x}}]}""");
        var (code, _, stderr) = await CliRun.RunAsync("check", file);
        Assert.Equal(2, code);
        Assert.Equal([NoBind($"{file}:1:13"), NoAnchor($"{file}:1:72", "stages[0].config.bind", "x"), $"ferry check: {file}: 2 problems; nothing was started"], stderr);
    }

    [Fact]
    public async Task A_file_that_is_only_an_alias_says_so_and_what_a_pipeline_file_must_be()
    {
        var file = _files.Write("only.yaml", "*x\n");
        var (code, _, stderr) = await CliRun.RunAsync("check", file);
        Assert.Equal(2, code);
        Assert.Equal(
        [
            NoAnchor($"{file}:1:1", "(file)", "x"),
            $"{file}:1:1: (file): must be a mapping with stages (and bus, routes, telemetry) or a list of stages",
            $"ferry check: {file}: 2 problems; nothing was started",
        ], stderr);
    }
}
