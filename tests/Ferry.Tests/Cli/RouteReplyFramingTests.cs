using Ferry.Cli;
using Ferry.Tests.Support;

namespace Ferry.Tests.Cli;

/// <summary>
/// <c>target: reply</c> matches answers to requests one message each: a stage of the pair with <c>raw</c> framing (the default,
/// a message being whatever one read returns) would hand parts of one answer, or two answers at once, to the wrong clients,
/// so <c>ferry check</c> refuses it at the reply route and names the stage; a framing with message boundaries passes.
/// </summary>
public sealed class RouteReplyFramingTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("ferry-reply-framing-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string Proxy(string frontFraming, string backFraming)
    {
        var path = Path.Combine(_dir, "proxy.yaml");
        File.WriteAllText(path, $$$"""
            stages:
              - {name: front, type: tcp_server, config: {bind: "127.0.0.1:27199"{{{frontFraming}}}}}
              - {name: back, type: tcp_client, config: {connect: "127.0.0.1:27198"{{{backFraming}}}}}
            routes:
              - {from: front, to: back}
              - {from: back, to: front, target: reply}
            """);
        return path;
    }

    private static async Task<(int Code, List<string> Out, List<string> Err)> CheckAsync(string file)
    {
        var stdout = new LineWriter();
        var stderr = new LineWriter();
        var code = await FerryCommand.RunAsync(["check", file], TextReader.Null, stdout, stderr, new Dictionary<string, string>(), CancellationToken.None);
        return (code, stdout.Lines.ToList(), stderr.Lines.ToList());
    }

    private static string Raw(string file, string stage)
        => $"{file}:6:5: routes[1].target: 'reply' needs a framing with message boundaries on both stages, but '{stage}' uses raw (its messages are what each read returns: "
            + $"one answer can come in two reads, or two in one, and would go to the wrong clients); set framing on '{stage}' (lines, length, delimiter, ...)";

    [Fact]
    public async Task A_reply_pair_whose_server_stage_frames_raw_by_default_is_refused_naming_that_stage()
    {
        var file = Proxy("", ", framing: lines");
        var (code, _, stderr) = await CheckAsync(file);
        Assert.Equal(2, code);
        Assert.Equal([Raw(file, "front"), $"ferry check: {file}: 1 problem; nothing was started"], stderr);
    }

    [Fact]
    public async Task A_raw_proxy_with_reply_answers_is_refused_once_for_each_raw_stage()
    {
        var file = Proxy(", framing: raw", "");
        var (code, _, stderr) = await CheckAsync(file);
        Assert.Equal(2, code);
        Assert.Equal([Raw(file, "front"), Raw(file, "back"), $"ferry check: {file}: 2 problems; nothing was started"], stderr);
    }

    [Fact]
    public async Task A_reply_pair_with_length_framing_on_both_stages_is_valid()
    {
        var file = Proxy(", framing: length", ", framing: 'length,bytes=2'");
        var (code, stdout, stderr) = await CheckAsync(file);
        Assert.Empty(stderr);
        Assert.Equal(0, code);
        Assert.Single(stdout);
    }
}
