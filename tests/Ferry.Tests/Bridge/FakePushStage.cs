using System.Net;
using Ferry.Connections;
using Ferry.Framing;
using Ferry.Stages;

namespace Ferry.Tests.Bridge;

/// <summary>
/// A bridge end's PUSH (or PULL) stage without sockets: the test says whether a connection is established in the stage's
/// table and raises the Connected and Disconnected events itself, so the window between a connection's end and the
/// handling of its event can be held open for as long as a test needs.
/// </summary>
internal sealed class FakePushStage(string name) : IAnyEgressStage
{
    private static readonly IPEndPoint Peer = new(IPAddress.Loopback, 40000);
    private readonly Lock _lock = new();
    private readonly List<byte[]> _sent = [];
    private int _attempts;

    public string Name { get; } = name;

    public event EventHandler<ConnectedEvent>? Connected;

    public event EventHandler<DisconnectedEvent>? Disconnected;

    public event EventHandler<StageErrorEvent>? Error;

    /// <summary>Whether the stage's table has an established connection that takes messages.</summary>
    public volatile bool HasEstablished;

    /// <summary>Whether the established connection has room; false: every connection is full (the stage answers AllFull).</summary>
    public volatile bool HasRoom = true;

    /// <summary>Room waits handed out (<see cref="WhenRoomForAny"/>) while full.</summary>
    public int RoomWaits => Volatile.Read(ref _roomWaits);

    private int _roomWaits;
    private TaskCompletionSource? _room;

    /// <summary>The connection has room again: <see cref="HasRoom"/> and the room wait completes.</summary>
    public void MakeRoom()
    {
        TaskCompletionSource? room;
        lock (_lock)
        {
            HasRoom = true;
            room = _room;
            _room = null;
        }
        room?.TrySetResult();
    }

    /// <summary>Calls of <see cref="SendToAnyAsync"/>: the waiting sender's attempts.</summary>
    public int Attempts => Volatile.Read(ref _attempts);

    public IReadOnlyList<byte[]> Sent
    {
        get
        {
            lock (_lock)
                return [.. _sent];
        }
    }

    public long QueuedEgressBytes => 0;

    public bool TrySendToAnyNow(ReadOnlySpan<byte> payload, in FrameFields fields) => Send(payload) == AnyOutcome.Queued;

    private AnyOutcome Send(ReadOnlySpan<byte> payload)
    {
        if (!HasEstablished)
            return AnyOutcome.NoPeer;
        lock (_lock)
        {
            if (!HasRoom)
                return AnyOutcome.AllFull;
            _sent.Add(payload.ToArray());
        }
        return AnyOutcome.Queued;
    }

    public ValueTask<(AnyOutcome Outcome, Connection? Owed)> SendToAnyAsync(ReadOnlyMemory<byte> payload, FrameFields fields, TimeSpan timeout, CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref _attempts);
        // No connection to charge: the fake counts no drops (the real stages' accounting is tested on them).
        return ValueTask.FromResult<(AnyOutcome, Connection?)>((Send(payload.Span), null));
    }

    public void CountGivenUp(Connection owed, int payloadLength) => throw new InvalidOperationException("the fake names no connection to charge");

    public Task WhenRoomForAny(int payloadLength)
    {
        lock (_lock)
        {
            if (HasRoom || !HasEstablished)
                return Task.CompletedTask;
            Interlocked.Increment(ref _roomWaits);
            _room ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            return _room.Task;
        }
    }

    public bool BeginSendBatch() => false;

    public void EndSendBatch()
    {
    }

    /// <summary>Raises Connected for connection <paramref name="sequence"/> (its handshake is done), on the calling thread.</summary>
    public void RaiseConnected(ulong sequence) =>
        Connected?.Invoke(this, new ConnectedEvent(Name, DateTimeOffset.UnixEpoch, new ConnectionId(1, sequence), Peer, Peer));

    /// <summary>Raises Disconnected for connection <paramref name="sequence"/>, on the calling thread.</summary>
    public void RaiseDisconnected(ulong sequence) =>
        Disconnected?.Invoke(this, new DisconnectedEvent(Name, DateTimeOffset.UnixEpoch, new ConnectionId(1, sequence), Peer, DisconnectReason.RemoteClosed));

    /// <summary>Raises Error, on the calling thread.</summary>
    public void RaiseError(StageErrorEvent e) => Error?.Invoke(this, e);
}
