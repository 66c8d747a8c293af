using System.Buffers;
using System.Threading.Channels;
using Ferry.Connections;
using Ferry.Framing;

namespace Ferry.Stages.Internal;

/// <summary>
/// One connection's bounded queue of messages for its handler. The service thread posts (each message
/// a copy of its own); the handler takes. When <see cref="Capacity"/> messages wait, the connection stops
/// being read — only this one, the loop goes on serving the others — and it is read again once the
/// handler has taken half of them. The overshoot is what one read decodes to.
/// </summary>
/// <remarks>
/// The pause is decided on the service thread and the resume on the handler's thread; both sides use
/// interlocked operations on the count and on <see cref="_paused"/>, so the loop either sees the handler
/// drained and does not pause, or the handler sees the pause and asks for the resume — never neither.
/// </remarks>
internal sealed class ConnectionInbox(Connection connection, int capacity, IInboxOwner owner)
{
    private readonly Channel<ConnectionMessage> _channel = Channel.CreateUnbounded<ConnectionMessage>(
        new UnboundedChannelOptions { SingleReader = true, SingleWriter = true, AllowSynchronousContinuations = false });
    private readonly int _resumeAt = capacity / 2;
    private int _count;
    private int _paused;

    public int Capacity { get; } = capacity;

    /// <summary>Whether a pause is in effect that no resume has been asked for yet.</summary>
    public bool IsPaused => Volatile.Read(ref _paused) != 0;

    /// <summary>Messages waiting now.</summary>
    public int Count => Volatile.Read(ref _count);

    public ChannelReader<ConnectionMessage> Reader => _channel.Reader;

    /// <summary>Queues a copy of one message; pauses reading the connection when the inbox is full. Service thread.</summary>
    public void Post(ReadOnlySpan<byte> payload, in FrameFields fields, long receivedAtUtcTicks)
        => Post(new ConnectionMessage(payload.ToArray(), fields, receivedAtUtcTicks));

    /// <inheritdoc cref="Post(ReadOnlySpan{byte}, in FrameFields, long)"/>
    public void Post(in ReadOnlySequence<byte> payload, in FrameFields fields, long receivedAtUtcTicks)
        => Post(new ConnectionMessage(payload.ToArray(), fields, receivedAtUtcTicks));

    private void Post(ConnectionMessage message)
    {
        if (!_channel.Writer.TryWrite(message))
            return; // completed: the connection is closing
        if (Interlocked.Increment(ref _count) < Capacity || Volatile.Read(ref _paused) != 0)
            return;
        Interlocked.Exchange(ref _paused, 1);
        // The handler may have drained between the count and the flag: then it did not see the flag.
        if (Volatile.Read(ref _count) <= _resumeAt && Interlocked.CompareExchange(ref _paused, 0, 1) == 1)
            return;
        owner.PauseReads(connection);
    }

    /// <summary>The handler took one message; asks for reads to resume when it has drained enough. Handler's thread.</summary>
    public void Taken()
    {
        if (Interlocked.Decrement(ref _count) <= _resumeAt && Volatile.Read(ref _paused) == 1
            && Interlocked.CompareExchange(ref _paused, 0, 1) == 1)
            owner.ResumeReads(connection);
    }

    /// <summary>No more messages: the handler reads what is queued, then its enumeration ends. Service thread, at close.</summary>
    public void Complete() => _channel.Writer.TryComplete();
}

/// <summary>What an inbox asks of the stage: stop and resume reading its connection.</summary>
internal interface IInboxOwner
{
    /// <summary>Stops reading the connection. Service thread.</summary>
    void PauseReads(Connection c);

    /// <summary>Asks the service thread to read the connection again. Any thread.</summary>
    void ResumeReads(Connection c);
}
