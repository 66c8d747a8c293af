namespace Ferry.Bridge;

/// <summary>Running totals of one bridge end, safe to read from any thread.</summary>
public sealed class FrameBridgeCounters
{
    private long _framesSent;
    private long _bytesSent;
    private long _framesReceived;
    private long _bytesReceived;
    private long _messagesDropped;
    private long _connections;

    /// <summary>Frames handed to a peer connection by <c>SendAsync</c> (payload bytes in <see cref="BytesSent"/>).</summary>
    public long FramesSent => Volatile.Read(ref _framesSent);

    /// <summary>Payload bytes of the frames in <see cref="FramesSent"/> (without ZMTP or Rogue metadata).</summary>
    public long BytesSent => Volatile.Read(ref _bytesSent);

    /// <summary>
    /// Frames received whole from the peers and taken in: counted as each enters the receive queue (or, with an inline pipe, is
    /// handed to its sink), not when the reader takes it. So it matches what the peers sent, also while the reader is slow;
    /// up to <see cref="FrameBridgeOptions.ReceiveHighWaterMark"/> of them may still wait in the queue unread (after a stop too,
    /// until read or the end is dropped).
    /// </summary>
    public long FramesReceived => Volatile.Read(ref _framesReceived);

    /// <summary>Payload bytes of the frames in <see cref="FramesReceived"/>.</summary>
    public long BytesReceived => Volatile.Read(ref _bytesReceived);

    /// <summary>
    /// Received messages that were dropped: not Rogue frames (wrong part count or sizes, too large), or sent by a peer to this
    /// end's PUSH socket, which receives nothing. Frames this end fails to send are not counted here.
    /// </summary>
    public long MessagesDropped => Volatile.Read(ref _messagesDropped);

    /// <summary>Connections that completed the ZMTP handshake, over the bridge's lifetime.</summary>
    public long Connections => Volatile.Read(ref _connections);

    internal void AddSent(long frames, long bytes)
    {
        Interlocked.Add(ref _framesSent, frames);
        Interlocked.Add(ref _bytesSent, bytes);
    }

    internal void AddReceived(long bytes)
    {
        Interlocked.Increment(ref _framesReceived);
        Interlocked.Add(ref _bytesReceived, bytes);
    }

    internal void AddDropped() => Interlocked.Increment(ref _messagesDropped);

    internal void AddConnection() => Interlocked.Increment(ref _connections);
}
