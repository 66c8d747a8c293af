using Ferry.Cli;
using Ferry.Cli.Pipeline;
using Ferry.Framing;
using Ferry.Hosting.Settings;
using Ferry.Tests.Support;

namespace Ferry.Tests.Cli;

/// <summary>
/// What a new user of ferry check / ferry run tripped over: a check that passed a file run then refused, a seed's
/// own example value taken wrongly, errors that named the wrong thing or no key.
/// </summary>
public sealed class NewUserPipelineTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("ferry-newuser-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string Write(string name, string text)
    {
        var path = Path.Combine(_dir, name);
        File.WriteAllText(path, text);
        return path;
    }

    private static async Task<(int Code, List<string> Out, List<string> Err)> RunAsync(params string[] args)
    {
        var stdout = new LineWriter();
        var stderr = new LineWriter();
        var code = await FerryCommand.RunAsync(args, TextReader.Null, stdout, stderr, new Dictionary<string, string>(), CancellationToken.None);
        return (code, stdout.Lines.ToList(), stderr.Lines.ToList());
    }

    [Fact]
    public async Task Check_refuses_a_scrape_endpoint_on_a_stages_address_as_run_would_fail_to_bind_it()
    {
        var file = Write("clash.yaml", """
            stages:
              - {name: a, type: tcp_server, config: {bind: 127.0.0.1:19500}}
              - {name: b, type: bridge_server, config: {address: 127.0.0.1, port: 19510}}
            telemetry:
              prometheus: {listen: 127.0.0.1:19511}
            """);
        var (code, stdout, stderr) = await RunAsync("check", file);
        Assert.Equal(2, code);
        Assert.Empty(stdout);
        Assert.Equal(
        [
            $"{file}:5:16: telemetry.prometheus.listen: '127.0.0.1:19511' is where stage 'b' ({file}:3:65) listens; give the scrape endpoint a port of its own",
            $"ferry check: {file}: 1 problem; nothing was started",
        ], stderr);

        (code, _, stderr) = await RunAsync("run", file, "--set", "telemetry.prometheus.listen=0.0.0.0:19500");
        Assert.Equal(2, code);
        Assert.Equal(
        [
            $"--set telemetry.prometheus.listen=0.0.0.0:19500: telemetry.prometheus.listen: '0.0.0.0:19500' is where stage 'a' ({file}:2:42) listens (127.0.0.1:19500); give the scrape endpoint a port of its own",
            $"ferry run: {file}: 1 problem; nothing was started",
        ], stderr);
    }
}
