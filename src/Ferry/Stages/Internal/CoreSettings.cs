using Ferry.Framing;
using Ferry.Transport;
using Ferry.Transport.Epoll;
using Ferry.Transport.Streams;

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
    int GroupSize,
    TimeSpan GroupLinger,
    TimeSpan StatsInterval,
    TimeSpan StopGracePeriod,
    ThreadPriority ThreadPriority,
    IReadOnlyList<int> ThreadProcessorAffinity,
    StageTransport Transport)
{
    /// <summary>The stage's transport, <see cref="StageTransport.Auto"/> resolved for this system.</summary>
    public ITransport CreateTransport() => StageTransportChoice.Resolve(Transport, tls: false) switch
    {
        StageTransport.Epoll => new EpollTransport(),
        _ => new StreamTransport(ReadBufferBytes),
    };

    public static CoreSettings From(TcpServerStageOptions o) => new(o.Name, o.Framing, o.ReadBufferBytes, o.EgressBufferBytes,
        o.EgressOverflow, o.EgressWaitTimeout, o.QueueWhenDisconnected, int.MaxValue, o.GroupNotices, o.IdleTimeout, o.GroupSize, o.GroupLinger,
        o.StatsInterval, o.StopGracePeriod, o.ThreadPriority, o.ThreadProcessorAffinity, o.Transport);

    public static CoreSettings From(TcpClientStageOptions o) => new(o.Name, o.Framing, o.ReadBufferBytes, o.EgressBufferBytes,
        o.EgressOverflow, o.EgressWaitTimeout, o.EgressWhileDisconnected == DisconnectedEgressPolicy.Hold ? int.MaxValue : 0,
        o.EgressWhileDisconnected == DisconnectedEgressPolicy.Hold ? o.EgressBufferBytes : int.MaxValue, false, o.IdleTimeout,
        o.GroupSize, o.GroupLinger, o.StatsInterval, o.StopGracePeriod, o.ThreadPriority, o.ThreadProcessorAffinity, o.Transport);
}
