using System.Text;
using Ferry.Cli;
using Ferry.Tests.Support;

namespace Ferry.Tests.Cli;

/// <summary>
/// Pipeline files that would overflow the stack or take gigabytes (the cli-config review's repro files: a self-referencing
/// alias, "billion laughs", 50,000-deep nesting, /dev/zero) are refused with one problem at file:line:column naming the
/// limit, exit 2; and JSON comments and tab indentation are reported where they are.
/// </summary>
public sealed class ConfigFileLimitTests : IDisposable
{
    private readonly ScratchFiles _files = new("ferry-limits-");

    public void Dispose() => _files.Dispose();

    private string Write(string name, string text) => _files.Write(name, text);

    private static async Task<string> CheckFailsAsync(string file)
    {
        var (stdout, stderr) = (new LineWriter(), new LineWriter());
        var code = await FerryCommand.RunAsync(["check", file], TextReader.Null, stdout, stderr, CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(60));
        Assert.Equal(2, code);
        Assert.Empty(stdout.Lines);
        Assert.Equal(2, stderr.Lines.Count); // the problem, then "N problems; nothing was started"
        return stderr.Lines.First();
    }

    [Fact]
    public async Task An_alias_inside_its_own_anchor_is_refused_not_a_stack_overflow()
    {
        var file = Write("selfref.yaml", "stages: &s\n  - *s\n");
        Assert.Equal($"{file}:1:9: (file): has an alias inside the very node its anchor names, which would repeat without end", await CheckFailsAsync(file));
    }

    [Fact]
    public async Task Billion_laughs_is_refused_at_the_node_count_limit()
    {
        var text = new StringBuilder("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for (var i = 1; i <= 9; i++)
            text.Append($"a{i}: &a{i} [{string.Join(", ", Enumerable.Repeat($"*a{i - 1}", 10))}]\n");
        text.Append("stages: *a9\n");
        var file = Write("laughs.yaml", text.ToString());
        var line = await CheckFailsAsync(file);
        Assert.StartsWith($"{file}:", line);
        Assert.EndsWith($"(file): expands to more than {100_000} values (aliases counted each time they are used), the limit for a pipeline file", line);
    }

    [Fact]
    public async Task Fifty_thousand_deep_nesting_is_refused_at_the_depth_limit()
    {
        const int n = 50_000;
        var file = Write("deep.yaml", "stages: " + new string('[', n) + new string(']', n) + "\n");
        // Levels 1 (the root mapping) and 2..64 are allowed; the 65th level is the 64th bracket, column 9 + 63.
        Assert.Equal($"{file}:1:72: (file): nests mappings and sequences more than 64 levels deep, the limit for a pipeline file", await CheckFailsAsync(file));
    }

    [Fact]
    public async Task A_file_over_one_mebibyte_is_refused_without_reading_it_all()
    {
        var file = Write("huge.yaml", "stages: []\n" + new string('#', 1 << 20));
        Assert.Equal($"ferry check: cannot read '{file}': it is larger than 1048576 bytes (1 MiB), the limit for a pipeline file", await CheckFailsAsync(file, lines: 1));
    }

    [Fact]
    public async Task Aliases_used_normally_still_work()
    {
        var file = Write("alias.yaml", """
            stages:
              - {name: a, type: tcp_server, config: {bind: "127.0.0.1:23020", framing: &framing lines}}
              - {name: b, type: tcp_server, config: {bind: "127.0.0.1:23021", framing: *framing}}
            """);
        var (stdout, stderr) = (new LineWriter(), new LineWriter());
        Assert.Equal(0, await FerryCommand.RunAsync(["check", file], TextReader.Null, stdout, stderr, CancellationToken.None));
        Assert.Contains("2 stages", Assert.Single(stdout.Lines));
    }

    [Fact]
    public async Task A_comment_in_json_is_reported_as_a_comment_where_it_is()
    {
        var file = Write("c.json", """
            {
              // a comment
              "stages": [ { "name": "front", "type": "tcp_server", "config": { "bind": "127.0.0.1:23020", "note": "a // in a string is text" } } ]
            }
            """);
        Assert.Equal($"{file}:2:3: (file): is JSON, which has no comments; remove the comment, or write the file as YAML, where comments start with '#'",
            await CheckFailsAsync(file));
    }

    [Fact]
    public async Task A_tab_used_as_indentation_is_reported_on_its_line()
    {
        var file = Write("tab.yaml", "stages:\n  - name: a\n    type: tcp_server\n    config:\n\tbind: 127.0.0.1:23020\n");
        Assert.StartsWith($"{file}:5:", await CheckFailsAsync(file));
    }

    [Fact]
    public async Task Bytes_that_are_not_utf8_are_refused_where_they_are_not_replaced()
    {
        // Latin-1: the é of the name is the single byte 0xE9; the delimiter's § is 0xA7.
        var name = _files.PathOf("latin1.yaml");
        File.WriteAllBytes(name, Encoding.Latin1.GetBytes("stages:\n  - name: \"café\"\n    type: tcp_server\n    config: {bind: \"127.0.0.1:23020\"}\n"));
        Assert.Equal($"{name}:2:15: (file): is not valid UTF-8 (byte 0xE9); save the file as UTF-8", await CheckFailsAsync(name));

        var delimiter = _files.PathOf("delimiter.yaml");
        File.WriteAllBytes(delimiter, Encoding.Latin1.GetBytes("- name: s\n  type: io_tcp\n  config: {mode: server, bind: \"127.0.0.1:23020\", delimiter: \"§\"}\n"));
        Assert.Equal($"{delimiter}:3:63: (file): is not valid UTF-8 (byte 0xA7); save the file as UTF-8", await CheckFailsAsync(delimiter));
    }

    [Fact]
    public async Task Utf8_with_or_without_a_byte_order_mark_keeps_its_characters()
    {
        var file = _files.PathOf("bom.yaml");
        File.WriteAllBytes(file, [0xEF, 0xBB, 0xBF, .. Encoding.UTF8.GetBytes("stages:\n  - {name: café, type: tcp_server, config: {bind: \"127.0.0.1:23020\"}}\n")]);
        var (stdout, stderr) = (new LineWriter(), new LineWriter());
        Assert.Equal(0, await FerryCommand.RunAsync(["check", file], TextReader.Null, stdout, stderr, CancellationToken.None));
        Assert.Contains("1 stage: café (tcp server on 127.0.0.1:23020)", Assert.Single(stdout.Lines));
    }

    [Theory]
    [InlineData("utf-16")]
    [InlineData("utf-16BE")]
    [InlineData("utf-32")]
    [InlineData("utf-32BE")]
    public async Task Utf16_and_utf32_with_a_byte_order_mark_are_read_strictly(string encodingName)
    {
        var encoding = Encoding.GetEncoding(encodingName);
        var good = _files.PathOf($"good-{encodingName}.yaml");
        File.WriteAllBytes(good, [.. encoding.GetPreamble(), .. encoding.GetBytes("stages:\n  - {name: café, type: tcp_server, config: {bind: \"127.0.0.1:23020\"}}\n")]);
        var (stdout, stderr) = (new LineWriter(), new LineWriter());
        Assert.Equal(0, await FerryCommand.RunAsync(["check", good], TextReader.Null, stdout, stderr, CancellationToken.None));
        Assert.Contains("1 stage: café (tcp server on 127.0.0.1:23020)", Assert.Single(stdout.Lines));

        // A lone high surrogate in the name: before, it ran as U+FFFD ("valid: 1 stage: a\uFFFD").
        var bad = _files.PathOf($"bad-{encodingName}.yaml");
        var text = "stages:\n  - {name: a\uD83D, type: tcp_server, config: {bind: \"127.0.0.1:23020\"}}\n";
        // Written unit by unit: the encoders themselves would replace the lone surrogate.
        var bigEndian = encodingName.EndsWith("BE", StringComparison.Ordinal);
        var width = encodingName.StartsWith("utf-16", StringComparison.Ordinal) ? 2 : 4;
        var bytes = new List<byte>(encoding.GetPreamble());
        foreach (var c in text)
        {
            var unit = new byte[width];
            for (var i = 0; i < width; i++)
                unit[bigEndian ? width - 1 - i : i] = (byte)((int)c >> (8 * i));
            bytes.AddRange(unit);
        }
        File.WriteAllBytes(bad, [.. bytes]);
        var name = encodingName[..6].ToUpperInvariant();
        var line = await CheckFailsAsync(bad);
        Assert.StartsWith($"{bad}:2:13: (file): is not valid {name} (bytes ", line);
        Assert.EndsWith($": its byte order mark says {name}; save the file as UTF-8", line);
    }

    [Fact]
    public async Task An_anchor_in_a_flow_mapping_the_reader_cannot_take_is_said_with_what_works()
    {
        // Valid YAML that YamlDotNet refuses ("did not find expected ',' or '}'"), which said nothing of the anchor.
        var file = Write("anchor.yaml", "stages: [{name: &n a, type: tcp_server, config: {bind: \"127.0.0.1:23020\"}}]\n");
        var line = await CheckFailsAsync(file);
        Assert.StartsWith($"{file}:1:23: (file): is not valid YAML or JSON: ", line);
        Assert.EndsWith("; the YAML reader does not take an anchor (&name) on a value in { } with another entry after it: "
            + "write that mapping as a block (one key per line), or put the anchored entry last", line);

        // What it says works: the anchored entry last, or the mapping as a block.
        foreach (var works in new[]
        {
            "stages: [{type: tcp_server, config: {bind: \"127.0.0.1:23020\"}, name: &n a}]\n",
            "stages:\n  - name: &n a\n    type: tcp_server\n    config: {bind: \"127.0.0.1:23020\"}\n",
        })
        {
            var ok = Write("works.yaml", works);
            var (stdout, stderr) = (new LineWriter(), new LineWriter());
            Assert.True(0 == await FerryCommand.RunAsync(["check", ok], TextReader.Null, stdout, stderr, CancellationToken.None), string.Join("\n", stderr.Lines));
        }
        // A mapping the reader refuses for another reason gets no such hint.
        Assert.DoesNotContain("anchor", await CheckFailsAsync(Write("other.yaml", "stages: [{name: a type: tcp_server}]\n")));
    }

    [Fact]
    public async Task Utf16_without_its_byte_order_mark_is_refused_saying_what_it_looks_like()
    {
        var file = _files.PathOf("nobom.yaml");
        File.WriteAllBytes(file, Encoding.BigEndianUnicode.GetBytes("stages: []\n"));
        Assert.EndsWith("; a file saved as UTF-16 or UTF-32 without its byte order mark reads so: save it as UTF-8", await CheckFailsAsync(file));
    }

    /// <summary>
    /// Found by the fuzz target <c>runfile</c> (its two crashes, minimised): on ": {" and a plain scalar on the next line
    /// YamlDotNet's scanner throws InvalidOperationException, on "!!]" its tag check ArgumentException, instead of a
    /// YamlException, and that ended <c>ferry check</c> and <c>ferry run</c> with a stack trace. Each is one problem at a
    /// line and column, as any other YAML error.
    /// </summary>
    [Theory]
    [InlineData("scanner.yaml", ": {\nr")]
    [InlineData("scanner.json", ": {\nr")]
    [InlineData("tag.yaml", "!!]")] // ArgumentException: "Global tags must be valid URIs."
    public async Task Text_the_yaml_scanner_fails_on_is_a_problem_not_a_crash(string name, string text)
    {
        var file = Write(name, text);
        var line = await CheckFailsAsync(file, 2);
        Assert.Matches($"^{System.Text.RegularExpressions.Regex.Escape(file)}:[1-9][0-9]*:[1-9][0-9]*: \\(file\\): is not valid YAML or JSON: ", line);
        Assert.Contains("the YAML parser cannot read on ", line);
    }

    /// <summary>
    /// The fuzz target's third crash, "\0:\0\x1f" as JSON (an ArgumentException from the node loader: "The current event is of an
    /// unsupported type."), is now refused before YamlDotNet reads it, for the raw NUL it begins with.
    /// </summary>
    [Fact]
    public async Task Text_with_raw_control_characters_the_node_loader_failed_on_is_refused_at_its_first_one()
    {
        var file = Write("nul.json", "\0:\0\u001f");
        var line = await CheckFailsAsync(file, 2);
        Assert.StartsWith($"{file}:1:1: (file): contains the control character U+0000, which neither YAML nor JSON allows", line);
    }

    private static async Task<string> CheckFailsAsync(string file, int lines)
    {
        var (stdout, stderr) = (new LineWriter(), new LineWriter());
        var code = await FerryCommand.RunAsync(["check", file], TextReader.Null, stdout, stderr, CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(60));
        Assert.Equal(2, code);
        Assert.Equal(lines, stderr.Lines.Count);
        return stderr.Lines.First();
    }
}
