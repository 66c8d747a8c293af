using System.Net;
using Ferry.Cli;
using Ferry.Tests.Support;

namespace Ferry.Tests.Cli;

/// <summary><c>ferry serve</c>'s group limits: the flags, and a stdin <c>join</c> they refuse.</summary>
public sealed class ServeGroupLimitTests
{
    [Fact]
    public async Task A_stdin_join_over_a_flags_limit_gets_an_error_line_saying_which_and_the_connection_goes_on()
    {
        var stdin = new QueueReader();
        var stdout = new LineWriter();
        using var stop = new CancellationTokenSource();
        var exit = Task.Run(() => FerryCommand.RunAsync(["serve", "--bind", "127.0.0.1:0", "--quiet", "--max-groups-per-connection", "1", "--max-group-name-length", "4"],
            stdin, stdout, new LineWriter(), stop.Token));
        var listening = await stdout.WaitJsonAsync(j => LineWriter.Is(j, "listening"), "listening");
        using var a = await FramedTestClient.ConnectAsync(IPEndPoint.Parse(listening.GetProperty("local").GetString()!));
        var id = (await stdout.WaitJsonAsync(j => LineWriter.Is(j, "connected"), "connected")).GetProperty("conn").GetString()!;

        stdin.Send($$"""{"type":"join","conn":"{{id}}","group":"ops"}""");
        stdin.Send($$"""{"type":"join","conn":"{{id}}","group":"dev"}""");
        stdin.Send($$"""{"type":"join","conn":"{{id}}","group":"admins"}""");
        stdin.Send("""{"type":"group_send","group":"ops","text":"ops"}""");
        Assert.Equal("ops", System.Text.Encoding.ASCII.GetString(await a.ReceiveExactlyAsync(3)));
        await Poll.UntilAsync(() => stdout.Json.Count(j => LineWriter.Is(j, "error")) == 2, "two error lines");
        var errors = stdout.Json.Where(j => LineWriter.Is(j, "error")).Select(j => j.GetProperty("message").GetString()).ToList();
        Assert.Equal(
        [
            $"join: connection {id} cannot join group 'dev': it is in 1 group, the most max_groups_per_connection (1) allows; "
                + "leave a group first, or raise max_groups_per_connection (0 = unlimited)",
            $"join: connection {id} cannot join group 'admins': the name is 6 characters long, and max_group_name_length allows at most 4; "
                + "use a shorter name, or raise max_group_name_length (1 to 65536)",
        ], errors);
        stop.Cancel();
        Assert.Equal(0, await exit.WaitAsync(TimeSpan.FromSeconds(15)));
    }

    [Theory]
    [InlineData("--max-groups-per-connection", "-1", "--max-groups-per-connection '-1' is not allowed; use a whole number from 0 to 2147483647")]
    [InlineData("--max-group-name-length", "0", "--max-group-name-length '0' is not allowed; use a whole number from 1 to 65536")]
    [InlineData("--max-group-name-length", "70000", "--max-group-name-length '70000' is not allowed; use a whole number from 1 to 65536")]
    public async Task A_bad_group_limit_flag_exits_2_with_the_range(string flag, string value, string expected)
    {
        var stderr = new LineWriter();
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        var code = await FerryCommand.RunAsync(["serve", flag, value], TextReader.Null, new LineWriter(), stderr, deadline.Token);
        Assert.Equal(2, code);
        Assert.Contains(expected, Assert.Single(stderr.Lines));
    }
}
