using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Ferry.Bridge;

/// <summary>Tuning for one bridge end. The defaults follow libzmq's as Rogue uses it, except where noted.
/// Validated by the end's constructor, which throws <see cref="ArgumentOutOfRangeException"/> for a bad value.</summary>
public sealed class FrameBridgeOptions
{
    /// <summary>
    /// Bytes of encoded frames a PUSH connection may have queued before <c>SendAsync</c> waits (default
    /// 4 MiB). A frame larger than this is taken once the queue is empty. libzmq bounds its pipe in
    /// messages (ZMQ_SNDHWM 1000); Ferry bounds bytes, because 1000 frames of 8 MiB would be 8 GiB.
    /// </summary>
    public int SendBufferBytes { get; init; } = 4 * 1024 * 1024;

    /// <summary>Received frames buffered for the reader before the PULL sockets stop being read (ZMQ_RCVHWM, default 1000).</summary>
    public int ReceiveHighWaterMark { get; init; } = 1000;

    /// <summary>
    /// Payload bytes of received frames buffered for the reader before the PULL sockets stop being read
    /// (default 64 MiB), whichever of this and <see cref="ReceiveHighWaterMark"/> is reached first. A frame
    /// larger than this is taken once the buffer is empty. Bounds memory when frames are large and the
    /// reader is slow: 1000 frames of 64 MiB would otherwise be 64 GiB.
    /// </summary>
    public long ReceiveBufferBytes { get; init; } = 64L * 1024 * 1024;

    /// <summary>How long <c>SendAsync</c> may wait for a peer or for queue space before it throws
    /// <see cref="TimeoutException"/>; infinite by default, as Rogue's blocking send.</summary>
    public TimeSpan SendTimeout { get; init; } = Timeout.InfiniteTimeSpan;

    /// <summary>Deadline for a new connection's ZMTP greeting and READY exchange.</summary>
    public TimeSpan HandshakeTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>Client reconnect delay (libzmq's ZMQ_RECONNECT_IVL, 100 ms); with <see cref="MaxReconnectDelay"/> set, the first of a back-off that doubles per failure.</summary>
    public TimeSpan ReconnectDelay { get; init; } = TimeSpan.FromMilliseconds(100);

    /// <summary>
    /// Cap of the client's reconnect back-off (libzmq's ZMQ_RECONNECT_IVL_MAX); zero, the default as in libzmq,
    /// means no back-off: every retry waits <see cref="ReconnectDelay"/>. Without a back-off a restarted
    /// server is found again within one delay in both directions; with one, the PUSH and PULL connections
    /// retry on their own timers and one may follow the other by up to the cap, while frames already
    /// arriving on the first wait for the second.
    /// </summary>
    public TimeSpan MaxReconnectDelay { get; init; } = TimeSpan.Zero;

    /// <summary>
    /// How long a peer may take to send one frame once its first byte is in, before its connection is closed
    /// (<c>frame_timeout</c>); zero, the default as in libzmq and Rogue, sets no limit: a large frame on a slow link takes as
    /// long as it takes, and the memory a peer's partial frame holds is bounded by <see cref="MaxPayloadBytes"/> either way.
    /// </summary>
    public TimeSpan FrameTimeout { get; init; } = TimeSpan.Zero;

    /// <summary>Largest payload accepted; larger messages are skipped, counted and logged.</summary>
    public int MaxPayloadBytes { get; init; } = 64 * 1024 * 1024;

    /// <summary>Connections a server accepts per port; more are closed at once.</summary>
    public int MaxPeersPerPort { get; init; } = 64;

    /// <summary>The transport of the bridge's stages (<see cref="Transport.StageTransport.Auto"/>: epoll on Linux, streams elsewhere).</summary>
    public Transport.StageTransport Transport { get; init; } = Ferry.Transport.StageTransport.Auto;

    /// <summary>How long stopping lets queued frames drain to peers that are reading before connections are closed.</summary>
    public TimeSpan StopGracePeriod { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>Where the end and its two stages log, under the category <c>Ferry.Bridge.&lt;address&gt;.&lt;Server|Client&gt;.&lt;port&gt;</c>;
    /// nothing is logged by default.</summary>
    public ILoggerFactory LoggerFactory { get; init; } = NullLoggerFactory.Instance;

    /// <summary>
    /// Whether the end's stages report slow event handlers (the default). The <c>ferry</c> commands switch it off, as on their
    /// own stages: every handler there is Ferry's, and their first call's JIT compilation on a loaded machine passed the
    /// threshold, so <c>ferry bridge client</c> warned at start of "a ConnectedEvent handler" its user never wrote.
    /// </summary>
    internal bool ReportSlowHandlers { get; init; } = true;

    /// <summary>The clock of the end's stages and its send timeout (tests give a fake one).</summary>
    internal TimeProvider TimeProvider { get; init; } = TimeProvider.System;

    internal void Validate()
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(SendBufferBytes, 1, nameof(SendBufferBytes));
        ArgumentOutOfRangeException.ThrowIfLessThan(ReceiveHighWaterMark, 1, nameof(ReceiveHighWaterMark));
        ArgumentOutOfRangeException.ThrowIfLessThan(ReceiveBufferBytes, 1, nameof(ReceiveBufferBytes));
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxPayloadBytes, 1, nameof(MaxPayloadBytes));
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxPeersPerPort, 1, nameof(MaxPeersPerPort));
        if (SendTimeout != Timeout.InfiniteTimeSpan && SendTimeout <= TimeSpan.Zero)
            throw new ArgumentOutOfRangeException(nameof(SendTimeout), "must be positive or infinite");
        if (HandshakeTimeout < TimeSpan.FromMilliseconds(1))
            throw new ArgumentOutOfRangeException(nameof(HandshakeTimeout), "must be at least 1 ms");
        if (ReconnectDelay < TimeSpan.FromMilliseconds(1))
            throw new ArgumentOutOfRangeException(nameof(ReconnectDelay), ReconnectDelay, "must be at least 1 ms");
        if (MaxReconnectDelay != TimeSpan.Zero && MaxReconnectDelay < ReconnectDelay)
            throw new ArgumentOutOfRangeException(nameof(MaxReconnectDelay), MaxReconnectDelay,
                $"must be zero (no back-off) or at least ReconnectDelay ({ReconnectDelay})");
        if (FrameTimeout < TimeSpan.Zero || (FrameTimeout > TimeSpan.Zero && FrameTimeout < TimeSpan.FromMilliseconds(1)))
            throw new ArgumentOutOfRangeException(nameof(FrameTimeout), FrameTimeout, "must be zero (no limit) or at least 1 ms");
        if (StopGracePeriod < TimeSpan.Zero)
            throw new ArgumentOutOfRangeException(nameof(StopGracePeriod), "must be 0 or positive");
        ArgumentNullException.ThrowIfNull(LoggerFactory);
    }
}
