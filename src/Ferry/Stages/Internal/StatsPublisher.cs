using Ferry.Bus;

namespace Ferry.Stages.Internal;

/// <summary>
/// Turns the counters into <see cref="SocketStats"/>: totals on demand from any thread, and a sample
/// with rates every <c>stats_interval</c> on the service thread, raised and published on
/// <c>&lt;stage&gt;/socket_stats</c>.
/// </summary>
internal sealed class StatsPublisher
{
    private readonly record struct Sample(long Timestamp, long BytesIn, long PacketsIn, long BytesOut, long PacketsOut);

    private readonly StageCounters _counters;
    private readonly ConnectionTable _table;
    private readonly EventSink _events;
    private readonly StageClock _clock;
    private readonly ITopic<SocketStats> _topic;
    private readonly long _intervalMs;
    private readonly CancellationToken _stopForced;
    private readonly Transport.CloseLinger? _linger;
    private Sample _last;
    /// <summary>A sample whose publish waits for a subscriber (a full queue, an inline handler that awaits); null when none.</summary>
    private Task? _publishing;
    /// <summary>Samples are being skipped because <see cref="_publishing"/> still waits: said once per such stretch.</summary>
    private bool _skipping;

    public StatsPublisher(StageCounters counters, ConnectionTable table, EventSink events, IMessageBus bus, TimeSpan interval, CancellationToken stopForced,
        Transport.CloseLinger? linger = null)
    {
        _linger = linger;
        _counters = counters;
        _table = table;
        _events = events;
        _clock = events.Clock;
        _topic = DirectTopic.Of<SocketStats>(bus, StageTopics.SocketStats(events.Stage));
        _intervalMs = (long)interval.TotalMilliseconds;
        _stopForced = stopForced;
    }

    /// <summary>When the next sample is due (stage clock, ms).</summary>
    public long NextDueMs { get; private set; }

    /// <summary>The most recently published statistics.</summary>
    public SocketStats? Last { get; private set; }

    /// <summary>Starts the interval; the loop calls it once its clock runs.</summary>
    public void Start()
    {
        NextDueMs = _clock.NowMs + _intervalMs;
        _last = new Sample(_clock.Time.GetTimestamp(), 0, 0, 0, 0);
    }

    /// <summary>Publishes a sample when one is due. Service thread.</summary>
    public void OnTimer()
    {
        if (_clock.NowMs < NextDueMs)
            return;
        // A fixed rate: a late sample shortens the next interval rather than shifting every later one.
        NextDueMs += _intervalMs;
        if (NextDueMs <= _clock.NowMs)
            NextDueMs = _clock.NowMs + _intervalMs;
        Publish();
    }

    private void Publish()
    {
        var now = _clock.Time.GetTimestamp();
        var bytesOut = BytesOut(locked: false);
        var packetsOut = Interlocked.Read(ref _counters.PacketsOut);
        var seconds = Math.Max((now - _last.Timestamp) / (double)_clock.Time.TimestampFrequency, 1e-6);
        var stats = Snapshot(onServiceThread: true) with
        {
            Interval = TimeSpan.FromSeconds(seconds),
            BytesReceivedPerSecond = (_counters.BytesIn - _last.BytesIn) / seconds,
            PacketsReceivedPerSecond = (_counters.PacketsIn - _last.PacketsIn) / seconds,
            BytesSentPerSecond = (bytesOut - _last.BytesOut) / seconds,
            PacketsSentPerSecond = (packetsOut - _last.PacketsOut) / seconds,
        };
        _last = new Sample(now, _counters.BytesIn, _counters.PacketsIn, bytesOut, packetsOut);
        Last = stats;
        _events.RaiseStats(stats);
        // A sample supersedes the one before, so a subscriber that has not taken the last one (a queue nobody reads, a handler
        // that awaits) is not waited for: waiting stopped every socket of the stage, for a metrics reader. Its samples are
        // skipped until it takes the one it has, and the stage goes on.
        if (_publishing is { } pending)
        {
            if (!pending.IsCompleted)
            {
                if (!_skipping)
                {
                    _skipping = true;
                    _events.RaiseWarning(WarningKind.HandlerSlow, StageErrorKind.Handler,
                        "a socket_stats subscriber has not taken the last sample (a queue nobody reads, or a handler that awaits): "
                        + "samples are skipped until it does; the stage goes on");
                }
                return;
            }
            _publishing = null;
            _skipping = false;
            Report(pending);
        }
        try
        {
            var publishing = _topic.PublishAsync(stats, _stopForced);
            if (publishing.IsCompletedSuccessfully)
                return;
            if (publishing.IsCompleted)
                publishing.GetAwaiter().GetResult();
            else
                _publishing = publishing.AsTask();
        }
        catch (Exception ex)
        {
            ReportFailure(ex);
        }
    }

    /// <summary>A publish that waited has ended: what its subscribers threw is reported now, on the service thread.</summary>
    private void Report(Task ended)
    {
        if (ended.Exception is { } failed)
            ReportFailure(failed.InnerExceptions.Count == 1 ? failed.InnerExceptions[0] : failed);
        else if (ended.IsCanceled && !_stopForced.IsCancellationRequested)
            ReportFailure(new OperationCanceledException());
    }

    private void ReportFailure(Exception ex)
    {
        if (ex is OperationCanceledException && _stopForced.IsCancellationRequested)
            return;
        _events.RaiseSubscriberFailures("socket_stats", ex);
    }

    /// <summary>Totals as of now. Off the service thread the live connections are summed under the table lock.</summary>
    public SocketStats Snapshot(bool onServiceThread) => new()
    {
        Stage = _events.Stage,
        Time = _clock.Time.GetUtcNow(),
        Interval = TimeSpan.Zero,
        ConnectionsNow = _table.Count,
        AcceptedTotal = Volatile.Read(ref _counters.Accepted),
        RejectedTotal = Volatile.Read(ref _counters.Rejected),
        ClosedTotal = Volatile.Read(ref _counters.Closed),
        BytesReceivedTotal = Volatile.Read(ref _counters.BytesIn),
        PacketsReceivedTotal = Volatile.Read(ref _counters.PacketsIn),
        BytesSentTotal = BytesOut(locked: !onServiceThread),
        PacketsSentTotal = Interlocked.Read(ref _counters.PacketsOut),
        GroupsPublishedTotal = Volatile.Read(ref _counters.GroupsPublished),
        FrameErrorsTotal = Volatile.Read(ref _counters.FrameErrors),
        TlsFailuresTotal = Volatile.Read(ref _counters.TlsFailures),
        ProxyFailuresTotal = Volatile.Read(ref _counters.ProxyFailures),
        EgressBytesDroppedTotal = Interlocked.Read(ref _counters.EgressBytesDropped),
        EgressPacketsDroppedTotal = Interlocked.Read(ref _counters.EgressPacketsDropped),
        EgressUnknownTargetTotal = Interlocked.Read(ref _counters.EgressUnknownTarget),
        GroupJoinsRefusedTotal = Interlocked.Read(ref _counters.GroupJoinsRefused),
        LingeringNow = _linger?.Count ?? 0,
        LingeringResetTotal = _linger?.ResetTotal ?? 0,
    };

    /// <summary>Bytes written to sockets, live and closed connections together.</summary>
    private long BytesOut(bool locked)
    {
        // The table lock keeps the closed total and the live list consistent with each other; the
        // service thread is the only one that changes either, so it needs no lock.
        if (!locked)
            return Volatile.Read(ref _counters.BytesOutOfClosed) + _table.SumBytesOutUnlocked();
        lock (_table.Sync)
            return Volatile.Read(ref _counters.BytesOutOfClosed) + _table.SumBytesOutUnlocked();
    }
}
