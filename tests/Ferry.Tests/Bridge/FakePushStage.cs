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

    public bool TrySendToAnyNow(ReadOnlySpan<byte> payload, in FrameFields fields)
    {
        if (!HasEstablished)
            return false;
        lock (_lock)
            _sent.Add(payload.ToArray());
        return true;
    }

    public ValueTask<bool> SendToAnyAsync(ReadOnlyMemory<byte> payload, FrameFields fields, TimeSpan timeout, CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref _attempts);
        return ValueTask.FromResult(TrySendToAnyNow(payload.Span, fields));
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
