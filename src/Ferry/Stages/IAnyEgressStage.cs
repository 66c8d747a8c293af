using Ferry.Connections;
using Ferry.Framing;

namespace Ferry.Stages;

/// <summary>
/// The documented internal surface a frame bridge end uses on its PUSH stage, whichever side dials:
/// "any one" egress without holding for absent peers (the bridge waits for a peer itself, as ZeroMQ's
/// ZMQ_IMMEDIATE does), how much egress is still queued, and the lifecycle events the end tracks its peers by.
/// </summary>
internal interface IAnyEgressStage
{
    /// <summary>The stage's name (its topics' namespace).</summary>
    string Name { get; }

    /// <summary>A connection is ready for messages.</summary>
    event EventHandler<ConnectedEvent>? Connected;

    /// <summary>A connection ended.</summary>
    event EventHandler<DisconnectedEvent>? Disconnected;

    /// <summary>Something went wrong; the stage goes on.</summary>
    event EventHandler<StageErrorEvent>? Error;

    /// <summary>Hands the message to the next established connection with room, without waiting; false when none took it.</summary>
    bool TrySendToAnyNow(ReadOnlySpan<byte> payload, in FrameFields fields);

    /// <summary>
    /// Like <see cref="TrySendToAnyNow"/>, but waits up to <paramref name="timeout"/> (or forever) while every connection is full.
    /// <see cref="AnyOutcome.NoPeer"/>: no connection is established (the peers must change first);
    /// <see cref="AnyOutcome.AllFull"/>: every established connection stayed full (the timeout passed, or a sender on a service
    /// thread, which must not wait, found the hold for a full connection over: see <see cref="WhenRoomForAny"/>). The stage then
    /// has not counted the message as dropped: a caller that tries again counts nothing for the attempt, and one that gives the
    /// message up passes <c>Owed</c>, when given, to <see cref="CountGivenUp"/> once.
    /// </summary>
    ValueTask<(AnyOutcome Outcome, Connection? Owed)> SendToAnyAsync(ReadOnlyMemory<byte> payload, FrameFields fields, TimeSpan timeout, CancellationToken cancellationToken);

    /// <summary>
    /// Counts a message of <paramref name="payloadLength"/> bytes as dropped, charged to <paramref name="owed"/>: the sender gave up
    /// a message that <see cref="SendToAnyAsync"/> answered <see cref="AnyOutcome.AllFull"/> for (the bridge stopped, its send
    /// timed out or was cancelled). Once per message, however many attempts it took.
    /// </summary>
    void CountGivenUp(Connection owed, int payloadLength);

    /// <summary>
    /// Completes when an established connection may take a message of <paramref name="payloadLength"/> bytes again (its buffer has
    /// drained to its low-water mark, or it closed); at once when one has room now or none is established. What to wait for
    /// after <see cref="AnyOutcome.AllFull"/>, as a change of the peers is after <see cref="AnyOutcome.NoPeer"/>.
    /// </summary>
    Task WhenRoomForAny(int payloadLength);

    /// <summary>
    /// Until <see cref="EndSendBatch"/>, messages the calling thread sends are gathered, not handed to the
    /// stage's thread; <see cref="EndSendBatch"/> writes them from the calling thread, one send per
    /// connection. False when another thread is batching (its sends then take the usual path).
    /// </summary>
    bool BeginSendBatch();

    /// <summary>Writes what the calling thread's batch queued; what the kernel does not take goes to the stage's thread.</summary>
    void EndSendBatch();

    /// <summary>Bytes queued on the stage's connections and not yet taken by the kernel.</summary>
    long QueuedEgressBytes { get; }
}
