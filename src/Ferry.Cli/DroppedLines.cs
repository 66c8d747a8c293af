namespace Ferry.Cli;

/// <summary>
/// <c>ferry connect</c>'s error lines for stdin lines that were not sent: those the stage refused (<see cref="DroppedLine"/> says
/// why), and held lines it dropped, oldest first, to make room for newer ones while the server was away. For those the stage
/// said yes to the newer line, so only its dropped counter knows: they used to go unsaid, as if sent. At most one line per
/// second of each kind: a server that did not read made one error line per stdin line (194,698 in 12 s), which buried
/// everything else on stdout.
/// </summary>
internal sealed class DroppedLines(Func<long> droppedTotal, Action<string> error, int holdBytes, TimeProvider time)
{
    /// <summary>How often an error line of each kind may be written; what comes in between is counted and told with the next.</summary>
    public static readonly TimeSpan Interval = TimeSpan.FromSeconds(1);

    private readonly Lock _lock = new();
    private long _refused;
    private long _heldSaid;
    private long _unsaid;
    private string? _lastWhy;
    private long _saidAt = long.MinValue;
    private bool _sending;

    /// <summary>A line is being given to the stage: until <see cref="Sent"/>, a drop the stage counted may be this line's own.</summary>
    public void Sending()
    {
        lock (_lock)
            _sending = true;
    }

    /// <summary>
    /// The stage's answer for the line: taken (or held), or refused for <paramref name="why"/> (null: refused because the stage
    /// is stopping, which the stop's own account tells).
    /// </summary>
    public void Sent(bool taken, string? why)
    {
        string? say = null;
        lock (_lock)
        {
            _sending = false;
            if (taken)
                return;
            _refused++;
            if (why is null)
                return;
            var now = time.GetTimestamp();
            if (_saidAt != long.MinValue && time.GetElapsedTime(_saidAt, now) < Interval)
            {
                _unsaid++;
                _lastWhy = why;
                return;
            }
            _saidAt = now;
            say = why + More();
        }
        error(say);
    }

    /// <summary>
    /// Once per <see cref="Interval"/> while the command runs (not during its stop, whose account tells what it dropped): the
    /// refused lines not told yet, and the held lines dropped since the last call.
    /// </summary>
    public void Tick()
    {
        var lines = new List<string>(2);
        lock (_lock)
        {
            if (_unsaid > 0)
            {
                lines.Add($"{_unsaid} more stdin line{(_unsaid == 1 ? " was" : "s were")} dropped in the last {Interval.TotalSeconds:0} s, the last because: {_lastWhy}");
                _unsaid = 0;
                _saidAt = time.GetTimestamp();
            }
            // With a line in the stage's hands, a drop it counted may be that line's refusal, not told yet: wait for the next call.
            var held = _sending ? 0 : droppedTotal() - _refused - _heldSaid;
            if (held > 0)
            {
                _heldSaid += held;
                lines.Add($"{held} held stdin line{(held == 1 ? " was" : "s were")} dropped, oldest first, to make room for newer ones while the "
                    + $"server was away: the stage holds at most {holdBytes} bytes of lines until it connects; raise --egress-buffer, or send while connected");
            }
        }
        foreach (var line in lines)
            error(line);
    }

    private string More()
    {
        if (_unsaid == 0)
            return "";
        var more = $" ({_unsaid} more line{(_unsaid == 1 ? "" : "s")} dropped before this one in the last {Interval.TotalSeconds:0} s)";
        _unsaid = 0;
        return more;
    }
}
