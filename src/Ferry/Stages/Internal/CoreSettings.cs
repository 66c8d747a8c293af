using Ferry.Framing;

namespace Ferry.Stages.Internal;

/// <summary>What the service loop needs from a stage's options, whichever kind of stage it is.</summary>
internal sealed record CoreSettings(
    string Name,
    IFraming Framing,
    int ReadBufferBytes,
    int EgressBufferBytes,
    EgressOverflowPolicy EgressOverflow,
    TimeSpan EgressWaitTimeout,
    int QueueWhenDisconnected,
    int HoldWhenDisconnectedBytes,
    bool GroupNotices,
    TimeSpan IdleTimeout,
    TimeSpan FrameTimeout,
    long MaxPendingBytes,
    int GroupSize,
    TimeSpan GroupLinger,
    TimeSpan StatsInterval,
    TimeSpan StopGracePeriod,
    ThreadPriority ThreadPriority,
    IReadOnlyList<int> ThreadProcessorAffinity)
{
    public static CoreSettings From(TcpServerStageOptions o) => new(o.Name, o.Framing, o.ReadBufferBytes, o.EgressBufferBytes,
        o.EgressOverflow, o.EgressWaitTimeout, o.QueueWhenDisconnected, int.MaxValue, o.GroupNotices, o.IdleTimeout, o.FrameTimeout, o.MaxPendingBytes, o.GroupSize, o.GroupLinger,
        o.StatsInterval, o.StopGracePeriod, o.ThreadPriority, o.ThreadProcessorAffinity);

    public static CoreSettings From(TcpClientStageOptions o) => new(o.Name, o.Framing, o.ReadBufferBytes, o.EgressBufferBytes,
        o.EgressOverflow, o.EgressWaitTimeout, o.EgressWhileDisconnected == DisconnectedEgressPolicy.Hold ? int.MaxValue : 0,
        o.EgressWhileDisconnected == DisconnectedEgressPolicy.Hold ? o.EgressBufferBytes : int.MaxValue, false, o.IdleTimeout, o.FrameTimeout, o.MaxPendingBytes,
        o.GroupSize, o.GroupLinger, o.StatsInterval, o.StopGracePeriod, o.ThreadPriority, o.ThreadProcessorAffinity);
}
