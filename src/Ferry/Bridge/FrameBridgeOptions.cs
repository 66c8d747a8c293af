using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Ferry.Bridge;

/// <summary>Tuning for one bridge end. The defaults match libzmq's as Rogue uses it.</summary>
public sealed class FrameBridgeOptions
{
    /// <summary>Frames queued for sending before <c>SendAsync</c> waits (libzmq's ZMQ_SNDHWM, default 1000).</summary>
    public int SendHighWaterMark { get; init; } = 1000;

    /// <summary>Received frames buffered for the reader before the socket stops being read (ZMQ_RCVHWM, default 1000).</summary>
    public int ReceiveHighWaterMark { get; init; } = 1000;

    /// <summary>How long <c>SendAsync</c> may wait for a peer or for queue space before it throws
    /// <see cref="TimeoutException"/>; infinite by default, as Rogue's blocking send.</summary>
    public TimeSpan SendTimeout { get; init; } = Timeout.InfiniteTimeSpan;

    /// <summary>Deadline for a new connection's ZMTP greeting and READY exchange.</summary>
    public TimeSpan HandshakeTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>First client reconnect delay (libzmq's ZMQ_RECONNECT_IVL, 100 ms); doubles per failure.</summary>
    public TimeSpan ReconnectDelay { get; init; } = TimeSpan.FromMilliseconds(100);

    /// <summary>Cap of the client's reconnect back-off.</summary>
    public TimeSpan MaxReconnectDelay { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>Largest payload accepted; larger messages are skipped, counted and logged.</summary>
    public int MaxPayloadBytes { get; init; } = 64 * 1024 * 1024;

    /// <summary>Connections a server accepts per port; more are closed at once.</summary>
    public int MaxPeersPerPort { get; init; } = 64;

    public ILoggerFactory LoggerFactory { get; init; } = NullLoggerFactory.Instance;

    internal void Validate()
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(SendHighWaterMark, 1, nameof(SendHighWaterMark));
        ArgumentOutOfRangeException.ThrowIfLessThan(ReceiveHighWaterMark, 1, nameof(ReceiveHighWaterMark));
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxPayloadBytes, 0, nameof(MaxPayloadBytes));
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxPeersPerPort, 1, nameof(MaxPeersPerPort));
        if (SendTimeout != Timeout.InfiniteTimeSpan && SendTimeout <= TimeSpan.Zero)
            throw new ArgumentOutOfRangeException(nameof(SendTimeout), "must be positive or infinite");
        if (HandshakeTimeout <= TimeSpan.Zero)
            throw new ArgumentOutOfRangeException(nameof(HandshakeTimeout), "must be positive");
        if (ReconnectDelay <= TimeSpan.Zero || MaxReconnectDelay < ReconnectDelay)
            throw new ArgumentOutOfRangeException(nameof(ReconnectDelay), "must be positive and at most MaxReconnectDelay");
        ArgumentNullException.ThrowIfNull(LoggerFactory);
    }
}
