using Ferry.Tests.Support;

namespace Ferry.Tests.Cli;

/// <summary>
/// A control character written raw in a pipeline file (a NUL pasted from a binary, an escape sequence from a terminal) is
/// outside what YAML and JSON allow. YamlDotNet read a raw NUL into a scalar, and a stage's name or address held it unseen.
/// </summary>
public sealed class ControlCharacterFileTests : IDisposable
{
    private readonly ScratchFiles _files = new("ferry-control-");

    public void Dispose() => _files.Dispose();

    [Theory]
    [InlineData("yaml", '\0', "U+0000")]
    [InlineData("yaml", '\u001b', "U+001B")]
    [InlineData("json", '\0', "U+0000")]
    [InlineData("yaml", '\u007f', "U+007F")]
    public void A_raw_control_character_is_refused_at_its_line_and_column(string kind, char control, string named)
    {
        var text = kind == "yaml"
            ? $"stages:\n  - name: fr{control}ont\n    type: tcp_server\n    config: {{bind: 127.0.0.1:0}}\n"
            : $"{{\"stages\": [{{\"name\": \"fr{control}ont\", \"type\": \"tcp_server\", \"config\": {{\"bind\": \"127.0.0.1:0\"}}}}]}}\n";
        var file = _files.Write("f." + kind, text);
        var (pipeline, err) = PipelineFileCheck.Load(file, "f." + kind);
        Assert.Null(pipeline);
        var where = kind == "yaml" ? "f.yaml:2:13" : "f.json:1:25";
        Assert.Equal($"{where}: (file): contains the control character {named}, which neither YAML nor JSON allows written raw in a file; "
            + "if a value is meant to hold it, write it escaped in a double-quoted string (\"\\0\", \"\\x01\")", err[0]);
        Assert.Equal($"ferry check: f.{kind}: 1 problem; nothing was started", err[1][..(err[1].IndexOf("started", StringComparison.Ordinal) + 7)]);
    }

    [Fact]
    public void Tabs_line_ends_and_escaped_controls_are_fine()
    {
        var file = _files.Write("ok.yaml", "stages:\r\n  - name: front\t# a tab before the comment\r\n    type: tcp_server\r\n    config: {bind: 127.0.0.1:0, delimiter: \"\\0\"}\r\n");
        var (pipeline, err) = PipelineFileCheck.Load(file, "ok.yaml");
        Assert.Empty(err);
        Assert.NotNull(pipeline);
    }
}
