using Ferry.Tests.Support;

namespace Ferry.Tests.Cli;

/// <summary>
/// Two routes between the same stages delivered every message twice (with a reply pair every answer went to its client
/// twice and each reply loss was reported twice); <c>ferry check</c> passed the file. The second one is now a problem at
/// its place, naming the route it duplicates. A reply route's own problems name the route (<c>routes[1].target</c>).
/// </summary>
public sealed class RouteDuplicateTests : IDisposable
{
    private readonly ScratchFiles _files = new("ferry-route-dup-");

    public void Dispose() => _files.Dispose();

    [Fact]
    public async Task A_second_identical_route_is_refused_at_its_place_naming_the_first()
    {
        var file = _files.Write("dup.yaml", """
            stages:
              - {name: front, type: tcp_server, config: {bind: "127.0.0.1:27001", framing: lines}}
              - {name: back, type: tcp_client, config: {connect: "127.0.0.1:27002", framing: lines}}
            routes:
              - {from: front, to: back}
              - {from: back, to: front, target: reply}
              - {from: front, to: back}
            """);
        var (code, stdout, stderr) = await CliRun.RunAsync("check", file);
        Assert.Equal(2, code);
        Assert.Empty(stdout);
        Assert.Equal(
        [
            $"{file}:7:5: routes[2]: duplicates routes[0] (from 'front' to 'back', at {file}:5:5); each message of 'front' would be delivered twice: keep one",
            $"ferry check: {file}: 1 problem; nothing was started",
        ], stderr);
    }

    [Fact]
    public async Task A_second_route_between_the_same_stages_with_another_target_is_a_duplicate_too()
    {
        var file = _files.Write("dup2.yaml", """
            stages:
              - {name: a, type: tcp_server, config: {bind: "127.0.0.1:27003"}}
              - {name: b, type: tcp_server, config: {bind: "127.0.0.1:27004"}}
            routes:
              - {from: a, to: b, target: all}
              - {from: a, to: b}
            """);
        var (code, _, stderr) = await CliRun.RunAsync("check", file);
        Assert.Equal(2, code);
        Assert.Equal($"{file}:6:5: routes[1]: duplicates routes[0] (from 'a' to 'b', at {file}:5:5); each message of 'a' would be delivered twice: keep one", stderr[0]);
    }

    [Fact]
    public async Task A_reply_route_without_the_route_it_answers_is_named_by_its_index()
    {
        var file = _files.Write("reply.yaml", """
            stages:
              - {name: front, type: tcp_server, config: {bind: "127.0.0.1:27005", framing: lines}}
              - {name: back, type: tcp_client, config: {connect: "127.0.0.1:27006", framing: lines}}
            routes:
              - {from: back, to: front, target: reply}
            """);
        var (code, _, stderr) = await CliRun.RunAsync("check", file);
        Assert.Equal(2, code);
        Assert.StartsWith($"{file}:5:5: routes[0].target: 'reply' needs the route it answers: from 'front' to 'back'", stderr[0]);
    }
}
