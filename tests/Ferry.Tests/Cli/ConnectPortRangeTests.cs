using Ferry.Cli;
using Ferry.Stages;
using Ferry.Tests.Support;

namespace Ferry.Tests.Cli;

/// <summary>A remote address's problem says the ports a client may connect to (1 to 65535), not a listening address's (0 to 65535).</summary>
public sealed class ConnectPortRangeTests
{
    [Theory]
    [InlineData("127.0.0.1:99999", "(port '99999' is not a number from 1 to 65535)")]
    [InlineData("127.0.0.1:x", "(port 'x' is not a number from 1 to 65535)")]
    [InlineData("127.0.0.1:0", "(port 0 is for listening on any free port; a client needs the port it connects to, from 1 to 65535)")]
    [InlineData(":9000", "(needs a host and a port from 1 to 65535)")]
    public void The_options_say_the_ports_a_client_connects_to(string connect, string expected)
    {
        var error = Assert.Throws<StageOptionsException>(() => new TcpClientStageOptions { Name = "c", Connect = connect }.Validate());
        var problem = Assert.Single(error.Problems, p => p.StartsWith("TcpClientStageOptions.Connect", StringComparison.Ordinal));
        Assert.Equal($"TcpClientStageOptions.Connect: '{connect}' is not a remote address {expected}; use host:port or [ipv6]:port", problem);
        Assert.DoesNotContain("from 0 to", problem);
    }

    [Fact]
    public async Task Ferry_connect_and_a_run_file_say_it_too()
    {
        var stderr = new LineWriter();
        Assert.Equal(2, await FerryCommand.RunAsync(["connect", "127.0.0.1:70000"], TextReader.Null, new LineWriter(), stderr, CancellationToken.None));
        Assert.Contains(stderr.Lines, l => l.Contains("(port '70000' is not a number from 1 to 65535)"));

        var dir = Directory.CreateTempSubdirectory("ferry-connect-port-").FullName;
        try
        {
            var file = Path.Combine(dir, "f.yaml");
            File.WriteAllText(file, "stages:\n  - {name: c, type: tcp_client, config: {connect: '127.0.0.1:70000'}}\n");
            var (code, _, err) = await CliRun.RunAsync("check", file);
            Assert.Equal(2, code);
            Assert.Contains(err, l => l.Contains("stages[0].config.connect: '127.0.0.1:70000' is not a remote address (port '70000' is not a number from 1 to 65535)"));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
