using Ferry.Cli;
using Ferry.Tests.Support;

namespace Ferry.Tests.Cli;

/// <summary>ferry serve and ferry connect name the flag (or argument) a stage option's own problem came from.</summary>
public sealed class OptionFlagProblemsTests
{
    private static async Task<(int Code, List<string> Err)> RunAsync(params string[] args)
    {
        var stderr = new LineWriter();
        var code = await FerryCommand.RunAsync(args, TextReader.Null, new LineWriter(), stderr, CancellationToken.None);
        return (code, stderr.Lines.ToList());
    }

    [Fact]
    public async Task Serve_names_the_flags_not_the_options_keys()
    {
        // Before: "ferry serve: option 'bind': '127.0.0.1:99999' is not …; option 'half_close_linger': 2h is not allowed; …".
        var (code, err) = await RunAsync("serve", "--bind", "127.0.0.1:99999", "--half-close-linger", "2h");
        Assert.Equal(2, code);
        Assert.Equal(
            "ferry serve: --bind '127.0.0.1:99999' is not a valid address (port '99999' is not a number from 0 to 65535); use host:port, :port or [ipv6]:port; "
            + "--half-close-linger '2h' is not allowed; must be 0 (close once what is queued is written) or from 1ms to 1h",
            Assert.Single(err));
    }

    [Fact]
    public async Task Connect_names_its_host_port_argument()
    {
        // Before: "ferry connect: option 'connect': '127.0.0.1:99999' is not a remote address …".
        var (code, err) = await RunAsync("connect", "127.0.0.1:99999");
        Assert.Equal(2, code);
        Assert.Equal("ferry connect: HOST:PORT '127.0.0.1:99999' is not a remote address (port '99999' is not a number from 1 to 65535); use host:port or [ipv6]:port",
            Assert.Single(err));
    }

    [Fact]
    public async Task A_value_the_stage_refuses_is_quoted_as_one_the_parser_refuses()
    {
        // Before: "--close-linger 10m is not allowed" beside the parser's "--max-connections '-3' is not allowed".
        var (_, parsed) = await RunAsync("serve", "--max-connections", "-3");
        var (_, checkedByStage) = await RunAsync("serve", "--close-linger", "10m");
        Assert.StartsWith("ferry serve: --max-connections '-3' is not allowed; ", Assert.Single(parsed));
        Assert.StartsWith("ferry serve: --close-linger '10m' is not allowed; ", Assert.Single(checkedByStage));
    }
}
