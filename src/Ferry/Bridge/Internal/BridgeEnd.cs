using System.Threading.Channels;
using Ferry.Bridge.Zmtp;
using Ferry.Bus;
using Ferry.Connections;
using Ferry.Framing;
using Ferry.Stages;
using Microsoft.Extensions.Logging;

namespace Ferry.Bridge.Internal;

/// <summary>
/// What a bridge end is, whichever side dials: two stages on Ferry's own transport, both speaking the
/// <c>zmtp</c> session framing: a PUSH stage that frames go out through and a PULL stage that frames
/// come in through. This class turns their packets into <see cref="Frame"/>s, waits for a PUSH peer
/// when sending (ZMQ_IMMEDIATE), and tracks the established peers behind readiness.
/// </summary>
internal sealed class BridgeEnd
{
    private readonly Channel<Frame> _inbound;
    private readonly CancellationTokenSource _stopping = new();
    private readonly Lock _lock = new();
    private readonly HashSet<ConnectionId> _pushPeers = [];
    private readonly HashSet<ConnectionId> _pullPeers = [];
    private readonly AsyncGate _pushReady = new();
    private readonly AsyncGate _ready = new();
    private IAnyEgressStage? _push;
    /// <summary>Payload bytes in <see cref="_inbound"/>, bounded by <see cref="FrameBridgeOptions.ReceiveBufferBytes"/>.</summary>
    private long _inboundBytes;
    private TaskCompletionSource? _inboundRoom;
    private IDisposable? _ingress;

    private BridgeEnd(FrameBridgeOptions options, ILoggerFactory loggers, ILogger logger)
    {
        Options = options;
        Loggers = loggers;
        Logger = logger;
        _inbound = Channel.CreateBounded<Frame>(new BoundedChannelOptions(options.ReceiveHighWaterMark)
        {
            FullMode = BoundedChannelFullMode.Wait,
            SingleWriter = true,
            AllowSynchronousContinuations = false,
        });
    }

    /// <summary>Checks the arguments of a bridge end and prepares it; <paramref name="role"/> is <c>Server</c> or <c>Client</c>.</summary>
    public static BridgeEnd Create(string address, int port, FrameBridgeOptions? options, string role)
    {
        ArgumentNullException.ThrowIfNull(address);
        BridgeAddress.ValidatePort(port);
        options ??= new FrameBridgeOptions();
        options.Validate();
        // One category per instance, as Rogue names its loggers; the stages log under it too.
        var category = $"Ferry.Bridge.{address}.{role}.{port}";
        var loggers = new CategoryLoggerFactory(options.LoggerFactory, category);
        return new BridgeEnd(options, loggers, loggers.CreateLogger(category));
    }

    public FrameBridgeOptions Options { get; }

    /// <summary>The logger factory the end's stages use: every logger has the end's category.</summary>
    public ILoggerFactory Loggers { get; }

    public ILogger Logger { get; }

    public FrameBridgeCounters Counters { get; } = new();

    public bool IsStopping => _stopping.IsCancellationRequested;

    public bool IsReady => _ready.IsOpen;

    /// <summary>The framing spec of one direction: Rogue's four-part messages, limits from the options.</summary>
    public string FramingSpec(ZmtpSocketType role) =>
        $"zmtp,socket={(role == ZmtpSocketType.Push ? "push" : "pull")},message=rogue,handshake_timeout_ms={(long)Options.HandshakeTimeout.TotalMilliseconds},max_frame_bytes={Options.MaxPayloadBytes},on_error=skip";

    /// <summary>Wires the two stages' events and ingress to this end (server or client stages alike); called before they start.</summary>
    public void Attach(IAnyEgressStage push, IAnyEgressStage pull, IMessageBus bus)
    {
        push.Connected += (_, e) => PeerUp(_pushPeers, e.ConnectionId, e.Peer.ToString(), "PUSH");
        pull.Connected += (_, e) => PeerUp(_pullPeers, e.ConnectionId, e.Peer.ToString(), "PULL");
        push.Disconnected += (_, e) => PeerDown(_pushPeers, e, "PUSH");
        pull.Disconnected += (_, e) => PeerDown(_pullPeers, e, "PULL");
        push.Error += (_, e) => OnStageError(e, "PUSH");
        pull.Error += (_, e) => OnStageError(e, "PULL");
        _push = push;
        _ingress = bus.Topic<PacketGroup>(StageTopics.PacketGroup(pull.Name)).Subscribe(DeliverAsync);
    }

    private void PeerUp(HashSet<ConnectionId> peers, ConnectionId id, string peer, string role)
    {
        Counters.AddConnection();
        BridgeLog.Established(Logger, role, peer);
        lock (_lock)
        {
            peers.Add(id);
            if (peers == _pushPeers && peers.Count == 1)
                _pushReady.Open();
            UpdateReadyLocked();
        }
    }

    private void PeerDown(HashSet<ConnectionId> peers, DisconnectedEvent e, string role)
    {
        lock (_lock)
        {
            // Connections that never finished the handshake were never counted as peers.
            if (!peers.Remove(e.ConnectionId))
                return;
            if (peers == _pushPeers && peers.Count == 0)
                _pushReady.Close();
            UpdateReadyLocked();
        }
        BridgeLog.Closed(Logger, role, e.Peer.ToString(), e.Detail is null ? e.ReasonName : $"{e.ReasonName}: {e.Detail}");
    }

    private void OnStageError(StageErrorEvent e, string role)
    {
        // A message that is not a Rogue frame was dropped and the connection goes on: count it.
        if (e.Kind == StageErrorKind.Frame && e.Skipped)
        {
            Counters.AddDropped();
            BridgeLog.MessageDropped(Logger, role, e.Message);
        }
        else
        {
            BridgeLog.StageProblem(Logger, role, e.Kind.ToString(), e.Message);
        }
    }

    private void UpdateReadyLocked()
    {
        var ready = _pushPeers.Count > 0 && _pullPeers.Count > 0;
        if (ready == _ready.IsOpen)
            return;
        if (ready)
        {
            _ready.Open();
            BridgeLog.Ready(Logger);
        }
        else
        {
            _ready.Close();
            BridgeLog.NotReady(Logger);
        }
    }

    /// <summary>
    /// The PULL stage's packet groups, on its service thread. Each payload is copied into a frame the
    /// reader owns. A full receive queue holds the service thread, so the PULL sockets stop being read
    /// and the peers' PUSH sockets block: Rogue's backpressure, end to end.
    /// </summary>
    [BackpressureHandler] // waits while the application's receive channel is full: that is the bridge's flow control
    private async ValueTask DeliverAsync(PacketGroup group, CancellationToken cancellationToken)
    {
        foreach (var packet in group)
        {
            var fields = packet.Fields;
            var payload = packet.Payload.IsEmpty ? [] : packet.Payload.ToArray();
            var frame = new Frame(payload, fields.Flags, fields.Channel, fields.Error);
            Counters.AddReceived(payload.Length);
            if (!HasRoomFor(payload.Length) || !_inbound.Writer.TryWrite(frame))
            {
                using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _stopping.Token);
                try
                {
                    while (!HasRoomFor(payload.Length))
                        await WaitForRoomAsync(payload.Length, linked.Token).ConfigureAwait(false);
                    await _inbound.Writer.WriteAsync(frame, linked.Token).ConfigureAwait(false);
                }
                catch (Exception e) when (e is OperationCanceledException or ChannelClosedException)
                {
                    return; // stopping: nobody will read it
                }
            }
            Interlocked.Add(ref _inboundBytes, payload.Length);
        }
    }

    public ValueTask SendAsync(Frame frame, CancellationToken cancellationToken)
    {
        if (IsStopping)
            ThrowStopped();
        var fields = new FrameFields(Flags: frame.Flags, Channel: frame.Channel, Error: frame.Error);
        // The common case, a peer with room, costs no timer, no linked token and no state machine.
        if (_pushReady.IsOpen && !cancellationToken.IsCancellationRequested)
        {
            try
            {
                if (_push!.TrySendToAnyNow(frame.Payload.Span, fields))
                {
                    Counters.AddSent(1, frame.Payload.Length);
                    return ValueTask.CompletedTask;
                }
            }
            catch (FramingException e)
            {
                throw new ArgumentException($"The frame cannot be sent: {e.Message}", nameof(frame), e);
            }
        }
        return SendSlowAsync(frame, fields, cancellationToken);
    }

    private async ValueTask SendSlowAsync(Frame frame, FrameFields fields, CancellationToken cancellationToken)
    {
        using var timeout = Options.SendTimeout == Timeout.InfiniteTimeSpan ? null : new CancellationTokenSource(Options.SendTimeout, Options.TimeProvider);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _stopping.Token, timeout?.Token ?? default);
        try
        {
            while (true)
            {
                // ZMQ_IMMEDIATE: nothing is queued while no PUSH peer has finished its handshake.
                await _pushReady.WaitAsync(linked.Token).ConfigureAwait(false);
                if (await _push!.SendToAnyAsync(frame.Payload, fields, Timeout.InfiniteTimeSpan, linked.Token).ConfigureAwait(false))
                {
                    Counters.AddSent(1, frame.Payload.Length);
                    return;
                }
                // The last peer left between the gate and the send: wait for the next one.
                await Task.Yield();
            }
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            if (_stopping.IsCancellationRequested)
                ThrowStopped();
            throw new TimeoutException($"No peer took the frame within {Options.SendTimeout}.");
        }
        catch (FramingException e)
        {
            throw new ArgumentException($"The frame cannot be sent: {e.Message}", nameof(frame), e);
        }
    }

    public async IAsyncEnumerable<Frame> ReadAllAsync([System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken)
    {
        await foreach (var frame in _inbound.Reader.ReadAllAsync(cancellationToken).ConfigureAwait(false))
        {
            Taken(frame);
            yield return frame;
        }
    }

    public bool TryRead(out Frame frame)
    {
        if (!_inbound.Reader.TryRead(out frame))
            return false;
        Taken(frame);
        return true;
    }

    /// <summary>A frame fits when the buffer is empty (a frame larger than the bound still passes, alone) or within the byte bound.</summary>
    private bool HasRoomFor(int bytes)
    {
        var held = Volatile.Read(ref _inboundBytes);
        return held == 0 || held + bytes <= Options.ReceiveBufferBytes;
    }

    private Task WaitForRoomAsync(int bytes, CancellationToken cancellationToken)
    {
        Task room;
        lock (_lock)
        {
            _inboundRoom ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            room = _inboundRoom.Task;
        }
        // Checked after registering, so a read that made room just now is not missed.
        return HasRoomFor(bytes) ? Task.CompletedTask : room.WaitAsync(cancellationToken);
    }

    /// <summary>The reader took a frame: its bytes leave the buffer, and a delivery waiting for room may go on.</summary>
    private void Taken(Frame frame)
    {
        Interlocked.Add(ref _inboundBytes, -frame.Payload.Length);
        TaskCompletionSource? room;
        lock (_lock)
        {
            room = _inboundRoom;
            _inboundRoom = null;
        }
        room?.TrySetResult();
    }

    public async Task WaitReadyAsync(CancellationToken cancellationToken)
    {
        if (IsStopping)
            ThrowStopped();
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _stopping.Token);
        try
        {
            await _ready.WaitAsync(linked.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            ThrowStopped();
        }
    }

    /// <summary>Bytes of encoded frames queued on PUSH connections and not yet taken by the kernel.</summary>
    public long PendingSendBytes => _push?.QueuedEgressBytes ?? 0;

    /// <summary>Fails waiting sends and readiness waits, and frees a PULL stage held by a full receive queue.</summary>
    public void BeginStop() => _stopping.Cancel();

    /// <summary>After the stages stopped: ends the receive queue so readers finish.</summary>
    public void CompleteStop()
    {
        _ingress?.Dispose();
        _inbound.Writer.TryComplete();
    }

    [System.Diagnostics.CodeAnalysis.DoesNotReturn]
    private static void ThrowStopped() =>
        throw new ObjectDisposedException("FrameBridge", "The frame bridge was stopped; create a new one to send again.");
}
