using Ferry.Cli;
using Microsoft.Extensions.Time.Testing;

namespace Ferry.Tests.Cli;

/// <summary>
/// ferry connect's error lines for lines not sent: at most one a second of each kind, the rest counted and told; held lines
/// the stage dropped to make room told too (the stage said yes to the newer line, so they went unsaid before).
/// </summary>
public sealed class DroppedLinesTests
{
    private readonly FakeTimeProvider _time = new();
    private readonly List<string> _errors = [];
    private long _stageDropped;

    private DroppedLines Lines() => new(() => _stageDropped, _errors.Add, holdBytes: 4096, _time);

    /// <summary>A line the stage refused: it counts the drop, then answers false.</summary>
    private void Refuse(DroppedLines lines, string why)
    {
        lines.Sending();
        _stageDropped++;
        lines.Sent(false, why);
    }

    [Fact]
    public void The_first_refusal_is_told_at_once_and_the_rest_of_the_second_are_counted_and_told_once()
    {
        var lines = Lines();
        for (var i = 0; i < 1000; i++)
            Refuse(lines, "stdin line dropped: the egress buffer is full");
        Assert.Equal(["stdin line dropped: the egress buffer is full"], _errors);

        _time.Advance(DroppedLines.Interval);
        lines.Tick();
        Assert.Equal("999 more stdin lines were dropped in the last 1 s, the last because: stdin line dropped: the egress buffer is full", _errors[^1]);
        Assert.Equal(2, _errors.Count);

        // No held line was dropped: every drop the stage counted was a refusal told above.
        _time.Advance(DroppedLines.Interval);
        lines.Tick();
        Assert.Equal(2, _errors.Count);
    }

    [Fact]
    public void A_refusal_after_a_quiet_second_is_told_at_once_with_the_count_not_yet_told()
    {
        var lines = Lines();
        Refuse(lines, "first");
        Refuse(lines, "second");
        _time.Advance(DroppedLines.Interval);
        Refuse(lines, "third");
        Assert.Equal(["first", "third (1 more line dropped before this one in the last 1 s)"], _errors);
    }

    [Fact]
    public void Held_lines_dropped_to_make_room_are_told_once_each_time_they_grow()
    {
        var lines = Lines();
        lines.Sending();
        _stageDropped += 3; // the stage made room for this line: three older held lines went
        lines.Sent(true, null);
        lines.Tick();
        Assert.Equal(["3 held stdin lines were dropped, oldest first, to make room for newer ones while the server was away: the stage holds "
            + "at most 4096 bytes of lines until it connects; raise --egress-buffer, or send while connected"], _errors);
        lines.Tick();
        Assert.Single(_errors);
        _stageDropped++;
        lines.Tick();
        Assert.StartsWith("1 held stdin line was dropped", _errors[^1], StringComparison.Ordinal);
    }

    [Fact]
    public void A_drop_counted_while_a_line_is_in_the_stages_hands_waits_for_its_answer()
    {
        var lines = Lines();
        lines.Sending();
        _stageDropped++; // the stage counted this very line's refusal, and has not answered yet
        lines.Tick();
        Assert.Empty(_errors);
        lines.Sent(false, "refused");
        lines.Tick();
        Assert.Equal(["refused"], _errors);
    }

    [Fact]
    public void A_refusal_during_the_stop_is_counted_not_told()
    {
        var lines = Lines();
        Refuse(lines, null!);
        lines.Tick();
        Assert.Empty(_errors);
    }
}
