using System.Diagnostics;

namespace Ferry.Stages.Internal;

internal abstract partial class StageCore
{
    private readonly record struct StatsSample(long Timestamp, long BytesIn, long PacketsIn, long BytesOut, long PacketsOut);

    private StatsSample _lastStats;

    /// <summary>Bytes written to sockets, live and closed connections together.</summary>
    private long BytesOutTotal()
    {
        var total = _bytesOutClosed;
        for (var i = 0; i < _count; i++)
            total += _list[i].BytesOut;
        return total;
    }

    private void PublishStats()
    {
        var now = Stopwatch.GetTimestamp();
        var bytesOut = BytesOutTotal();
        var packetsOut = Interlocked.Read(ref _packetsOut);
        var seconds = Math.Max((now - _lastStats.Timestamp) / (double)Stopwatch.Frequency, 1e-6);
        var stats = Snapshot() with
        {
            Interval = TimeSpan.FromSeconds(seconds),
            BytesReceivedPerSecond = (_bytesIn - _lastStats.BytesIn) / seconds,
            PacketsReceivedPerSecond = (_packetsIn - _lastStats.PacketsIn) / seconds,
            BytesSentPerSecond = (bytesOut - _lastStats.BytesOut) / seconds,
            PacketsSentPerSecond = (packetsOut - _lastStats.PacketsOut) / seconds,
        };
        _lastStats = new StatsSample(now, _bytesIn, _packetsIn, bytesOut, packetsOut);
        LastStats = stats;
        RaiseEvent(StatsPublished, stats);
        try
        {
            var publishing = _statsTopic.PublishAsync(stats, _stopForced.Token);
            if (!publishing.IsCompletedSuccessfully)
                publishing.AsTask().GetAwaiter().GetResult();
        }
        catch (OperationCanceledException) when (_stopForced.IsCancellationRequested)
        {
        }
        catch (Exception ex)
        {
            RaiseError(StageErrorKind.Handler, $"a socket_stats subscriber failed: {ex.Message}");
        }
    }

    /// <summary>The most recently published statistics.</summary>
    public SocketStats? LastStats { get; private set; }

    /// <summary>Totals as of now. Figures owned by the service thread are read without a lock, so off it they may lag by a message.</summary>
    public SocketStats Snapshot() => new()
    {
        Stage = Name,
        Time = DateTimeOffset.UtcNow,
        Interval = TimeSpan.Zero,
        ConnectionsNow = Volatile.Read(ref _count),
        AcceptedTotal = Volatile.Read(ref _acceptedTotal),
        RejectedTotal = Volatile.Read(ref _rejectedTotal),
        ClosedTotal = Volatile.Read(ref _closedTotal),
        BytesReceivedTotal = Volatile.Read(ref _bytesIn),
        PacketsReceivedTotal = Volatile.Read(ref _packetsIn),
        BytesSentTotal = OnServiceThread ? BytesOutTotal() : LockedBytesOutTotal(),
        PacketsSentTotal = Interlocked.Read(ref _packetsOut),
        GroupsPublishedTotal = Volatile.Read(ref _groupsPublished),
        FrameErrorsTotal = Volatile.Read(ref _frameErrors),
        EgressBytesDroppedTotal = Interlocked.Read(ref _egressBytesDropped),
        EgressPacketsDroppedTotal = Interlocked.Read(ref _egressPacketsDropped),
        EgressUnknownTargetTotal = Interlocked.Read(ref _egressUnknownTarget),
    };

    private long LockedBytesOutTotal()
    {
        lock (_listLock)
            return BytesOutTotal();
    }
}
