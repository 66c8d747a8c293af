namespace Ferry.Stages.Internal;

/// <summary>What a rate-limited warning is about: each kind has its own budget.</summary>
internal enum WarningKind
{
    FrameError,
    Rejected,
    Accept,
    Egress,
    HandlerFailed,
    HandlerSlow,
    InlineHandlerAwaited,
    InlineHandlerOverran,
    ClientCertificateRefused,
}

/// <summary>
/// Keeps a flood of one kind of warning (a client sending garbage, a connection storm, descriptors
/// running out) from flooding the log: the first <see cref="Burst"/> of a kind in each window are
/// written, the rest counted, and the count is written once the window ends. Any thread.
/// </summary>
internal sealed class LogRateLimiter(StageClock clock, Action<WarningKind, long, long> reportSuppressed)
{
    public const int Burst = 10;
    public const long WindowMs = 10_000;

    private readonly Lock _lock = new();
    private readonly long[] _windowStart = new long[Enum.GetValues<WarningKind>().Length];
    private readonly int[] _written = new int[Enum.GetValues<WarningKind>().Length];
    private readonly long[] _suppressed = new long[Enum.GetValues<WarningKind>().Length];

    /// <summary>Whether a warning of this kind may be written now; if not, it is counted.</summary>
    public bool TryWrite(WarningKind kind)
    {
        long suppressed;
        bool write;
        lock (_lock)
        {
            var i = (int)kind;
            suppressed = RollLocked(i, clock.NowMsFresh);
            write = _written[i] < Burst;
            if (write)
                _written[i]++;
            else
                _suppressed[i]++;
        }
        if (suppressed > 0)
            reportSuppressed(kind, suppressed, WindowMs);
        return write;
    }

    /// <summary>Writes the counts of windows that have ended (called from the service loop's timers).</summary>
    public void Flush()
    {
        for (var i = 0; i < _windowStart.Length; i++)
        {
            long suppressed;
            lock (_lock)
                suppressed = RollLocked(i, clock.NowMsFresh);
            if (suppressed > 0)
                reportSuppressed((WarningKind)i, suppressed, WindowMs);
        }
    }

    /// <summary>Starts a new window when the current one has ended; returns what the ended one suppressed.</summary>
    private long RollLocked(int i, long now)
    {
        if (now - _windowStart[i] < WindowMs)
            return 0;
        var suppressed = _suppressed[i];
        _windowStart[i] = now;
        _written[i] = 0;
        _suppressed[i] = 0;
        return suppressed;
    }
}
