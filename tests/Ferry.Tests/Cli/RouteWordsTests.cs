using Ferry.Tests.Support;

namespace Ferry.Tests.Cli;

/// <summary>
/// What is said about routes where the words used to be wrong: a route to a stage of a file that declares none listed
/// "(stages: )", and a <c>--set</c> path that names no route offered "or a name", though routes have no names.
/// </summary>
public sealed class RouteWordsTests : IDisposable
{
    private readonly ScratchFiles _files = new("ferry-route-words-");

    public void Dispose() => _files.Dispose();

    [Fact]
    public async Task A_route_in_a_file_without_stages_says_there_are_none_rather_than_an_empty_list()
    {
        var file = _files.Write("none.yaml", """
            stages: []
            routes:
              - {from: front, to: back}
            """);
        var (code, _, stderr) = await CliRun.RunAsync("check", file);
        Assert.Equal(2, code);
        Assert.Contains($"{file}:3:6: routes[0].from: 'front' is not a stage of this file (it declares none)", stderr);
        Assert.DoesNotContain(stderr, l => l.Contains("(stages: )"));
    }

    [Fact]
    public async Task A_set_path_that_names_no_route_offers_indexes_only()
    {
        var file = _files.Write("proxy.yaml", """
            stages:
              - {name: front, type: tcp_server, config: {bind: "127.0.0.1:27011"}}
              - {name: back, type: tcp_client, config: {connect: "127.0.0.1:27012"}}
            routes:
              - {from: front, to: back}
            """);
        var (code, _, stderr) = await CliRun.RunAsync("check", file, "--set", "routes.front.to=back");
        Assert.Equal(2, code);
        Assert.Equal("--set routes.front.to=back: routes.front.to: 'front' names no element of 'routes': use an index from 0 to 0", stderr[0]);

        (code, _, stderr) = await CliRun.RunAsync("check", file, "--set", "routes[3].to=back");
        Assert.Equal(2, code);
        Assert.Equal("--set routes[3].to=back: routes[3].to: '3' is past the end of 'routes', which has 1 element: use an index from 0 to 0", stderr[0]);
    }

    [Fact]
    public async Task A_set_path_into_an_empty_list_says_it_is_empty()
    {
        var file = _files.Write("empty.yaml", """
            stages:
              - {name: front, type: tcp_server, config: {bind: "127.0.0.1:27013"}}
            routes: []
            """);
        var (code, _, stderr) = await CliRun.RunAsync("check", file, "--set", "routes.0.to=front");
        Assert.Equal(2, code);
        Assert.Equal("--set routes.0.to=front: routes.0.to: '0' names no element of 'routes': it is empty", stderr[0]);
    }
}
