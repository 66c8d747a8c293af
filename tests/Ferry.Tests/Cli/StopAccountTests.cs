using Ferry.Cli;
using Ferry.Stages;

namespace Ferry.Tests.Cli;

/// <summary>
/// The stderr line a stop writes when it dropped queued egress. What the connections' egress buffers held when they
/// closed is counted in bytes only (a buffer keeps no message boundaries), so the line must not claim a message count
/// it does not have.
/// </summary>
public sealed class StopAccountTests
{
    private static readonly SocketStats Totals = new() { Stage = "b", Time = DateTimeOffset.UnixEpoch, Interval = TimeSpan.FromSeconds(1) };

    /// <param name="packets">Whole messages the end of the stop dropped.</param>
    /// <param name="bytes">Bytes the end of the stop dropped.</param>
    private static string Report(long packets, long bytes, string command = "ferry run")
    {
        var account = new StopAccount();
        account.Add("b", () => Totals, () => (bytes, packets), () => 0);
        using var stdout = new StringWriter();
        using var stderr = new StringWriter();
        using (var output = new JsonLineWriter(stdout))
            account.Report(command, command == "ferry run" ? "stop_grace_period" : "--stop-grace-period", output, stderr);
        return stderr.ToString();
    }

    [Fact]
    public void Bytes_dropped_from_egress_buffers_are_said_in_bytes_not_as_zero_messages()
    {
        var line = Report(0, 12920);

        Assert.Contains("ferry run: stage 'b': the stop dropped 12920 bytes of queued egress", line, StringComparison.Ordinal);
        Assert.DoesNotContain("0 queued messages", line, StringComparison.Ordinal);
    }

    [Fact]
    public void Whole_messages_dropped_are_counted_beside_the_bytes()
    {
        var line = Report(4096, 4194304);

        Assert.Contains("ferry run: stage 'b': the stop dropped 4194304 bytes of queued egress (4096 whole messages among them)", line, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("ferry run", "within its stop_grace_period (or before a second signal)")]
    [InlineData("ferry serve", "within its --stop-grace-period (or before a second signal)")]
    public void The_line_names_the_setting_of_the_command_that_ran_the_stage(string command, string ending)
    {
        // Before: ferry serve's line named the run-file key, not the flag its operator sets.
        var line = Report(0, 10, command);

        Assert.StartsWith(command + ": stage 'b': the stop dropped 10 bytes", line, StringComparison.Ordinal);
        Assert.EndsWith(ending + Environment.NewLine, line, StringComparison.Ordinal);
    }

    [Fact]
    public void A_stop_that_dropped_nothing_says_nothing()
        => Assert.Equal("", Report(0, 0));

    [Fact]
    public void Packets_read_that_the_stop_never_published_are_said_with_where_they_went()
    {
        var account = new StopAccount();
        account.Add("front", () => Totals, () => (0, 0), () => 236);
        using var stdout = new StringWriter();
        using var stderr = new StringWriter();
        using (var output = new JsonLineWriter(stdout))
            account.Report("ferry serve", "--stop-grace-period", output, stderr);
        Assert.Equal("ferry serve: stage 'front': the stop dropped 236 packets read from clients that were never published: a subscriber "
            + "(with a NATS bus, the gateway waiting for the server) still held an earlier one when its --stop-grace-period ran out (or a second signal came)"
            + Environment.NewLine, stderr.ToString());
    }
}
