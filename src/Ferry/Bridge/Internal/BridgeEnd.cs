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
    /// <summary>Frames the PULL stage delivers per packet group at most (a round's frames, see the stage options).</summary>
    public const int ReceiveBatchFrames = 256;

    private readonly Channel<Frame> _inbound;
    private readonly CancellationTokenSource _stopping = new();
    private readonly Lock _lock = new();
    private readonly HashSet<ConnectionId> _pushPeers = [];
    private readonly HashSet<ConnectionId> _pullPeers = [];
    private readonly AsyncGate _pushReady = new();
    private readonly AsyncGate _ready = new();
    private IAnyEgressStage? _push;
    /// <summary>
    /// Completed (and dropped) when a PUSH peer arrives or leaves. Created lazily by a sender on the slow path before its send
    /// and shared by the senders until the next change, so that one that finds no connection behind an open
    /// <see cref="_pushReady"/> can wait for the peers to change; peer events with no sender on the slow path allocate nothing. Under the lock.
    /// </summary>
    private TaskCompletionSource? _pushPeersChanged;
    /// <summary>Payload bytes in <see cref="_inbound"/>, bounded by <see cref="FrameBridgeOptions.ReceiveBufferBytes"/>.</summary>
    private long _inboundBytes;
    /// <summary>Frames in <see cref="_inbound"/>, bounded by <see cref="FrameBridgeOptions.ReceiveHighWaterMark"/>.</summary>
    private int _inboundCount;
    private TaskCompletionSource? _inboundRoom;
    /// <summary>The inline pipe taking received frames instead of the queue, when one runs.</summary>
    private InlinePipe? _pipe;
    /// <summary>A pipe is starting: it is taking the queued frames before it takes over.</summary>
    private bool _draining;
    private IDisposable? _ingress;
    /// <summary>A client direction's failing dials were logged since it last had a peer: an outage is logged once, not per retry.</summary>
    private bool _pushDialLogged;
    private bool _pullDialLogged;

    private BridgeEnd(FrameBridgeOptions options, ILoggerFactory loggers, ILogger logger)
    {
        Options = options;
        Loggers = loggers;
        Logger = logger;
        // Unbounded as a channel: the count and byte bounds are checked together, under one lock, with
        // the inline pipe's start (HasRoomFor).
        _inbound = Channel.CreateUnbounded<Frame>(new UnboundedChannelOptions
        {
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

    /// <summary>
    /// Both directions have a peer, and the end is not stopping: from the moment a stop begins, sends and readiness waits
    /// fail (<see cref="ObjectDisposedException"/>), while the stages' peers leave only as their loops end (after the drain,
    /// up to the grace period). A caller told of the stop by a failed send must not find the end still ready.
    /// </summary>
    public bool IsReady => _ready.IsOpen && !IsStopping;

    /// <summary>The read buffer of each of the end's stages: large enough that a 64 KiB frame usually arrives in one receive.</summary>
    public const int ReadBufferBytes = 256 * 1024;

    /// <summary>
    /// The partial-frame memory a stage of this end may hold (its <c>MaxPendingBytes</c>): two frames of the largest payload
    /// at once, with the room a partial frame's buffer takes beyond its bytes (a read's worth, and the message's other parts).
    /// The stages' default (64 MiB) closed the connection of a peer that sent a frame near <see cref="FrameBridgeOptions.MaxPayloadBytes"/>
    /// (memory_limit), lost the frame uncounted, and did so for ever as the peer sent it again.
    /// </summary>
    public long PartialFrameBudget => 2 * ((long)Options.MaxPayloadBytes + ReadBufferBytes + 64 * 1024);

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
        _ingress = DirectTopic.Of<PacketGroup>(bus, StageTopics.PacketGroup(pull.Name)).Subscribe(DeliverAsync);
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
            if (peers == _pushPeers)
            {
                _pushDialLogged = false;
                SignalPushPeersChangedLocked();
            }
            else
                _pullDialLogged = false;
            UpdateReadyLocked();
        }
    }

    /// <summary>
    /// A client direction's dial failed (refused, unreachable, unresolved, timed out). The stage retries on its
    /// own; the first failure of an outage is logged with the address and the reason, the retries are not.
    /// </summary>
    public void DialFailed(ZmtpSocketType role, ConnectFailedEvent e)
    {
        // A connection that ended is not a failed dial: its close was logged (PeerDown).
        if (e.ConnectionLost)
            return;
        lock (_lock)
        {
            ref var logged = ref role == ZmtpSocketType.Push ? ref _pushDialLogged : ref _pullDialLogged;
            if (logged)
                return;
            logged = true;
        }
        BridgeLog.CannotConnect(Logger, role == ZmtpSocketType.Push ? "PUSH" : "PULL", e.Remote, e.Reason, (long)e.RetryIn.TotalMilliseconds);
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
            if (peers == _pushPeers)
                SignalPushPeersChangedLocked();
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
    /// The PULL stage's packet groups, on its service thread: each frame goes to the inline pipe when
    /// one runs (no queue, no other thread; a bridge end as the sink gets the receive buffer's bytes, any
    /// other sink a fresh array), else into the receive queue as an array the reader owns. A full queue
    /// holds the service thread, so the PULL sockets stop being read and the peers' PUSH sockets block:
    /// Rogue's backpressure, end to end.
    /// </summary>
    [BackpressureHandler] // waits while the application's receive channel is full: that is the bridge's flow control
    private ValueTask DeliverAsync(PacketGroup group, CancellationToken cancellationToken)
    {
        for (var i = 0; i < group.Count; i++)
        {
            if (!TryEnqueue(group[i], out var pipe))
            {
                pipe?.Exit(); // DeliverRestAsync enters it again for this frame
                return DeliverRestAsync(group, i, cancellationToken);
            }
        }
        return ValueTask.CompletedTask;
    }

    /// <summary>
    /// Queues one frame when no inline pipe runs and the queue has room; false with the pipe when one
    /// runs (the frame is the pipe's, and the pipe is entered: <see cref="InlinePipe.Exit"/> after the sink
    /// call), false without when the queue is full. Under the lock, so a pipe only starts once the queue is
    /// empty and no frame can slip in behind it.
    /// </summary>
    private bool TryEnqueue(in Packet packet, out InlinePipe? pipe)
    {
        var payload = packet.Payload;
        lock (_lock)
        {
            pipe = _pipe is { } running && running.TryEnter() ? running : null;
            if (pipe is not null || !HasRoomFor(payload.Length))
                return false;
            var fields = packet.Fields;
            // Received means taken in from the peer, not read (see FrameBridgeCounters.FramesReceived): counted here, before the
            // reader can have it, so a reader that has read n frames finds FramesReceived at least n.
            Counters.AddReceived(payload.Length);
            _inboundCount++;
            _inboundBytes += payload.Length;
            _inbound.Writer.TryWrite(new Frame(payload.IsEmpty ? [] : payload.ToArray(), fields.Flags, fields.Channel, fields.Error)); // unbounded: HasRoomFor bounds it
        }
        return true;
    }

    /// <summary>
    /// Delivers the group from packet <paramref name="next"/> on, which did not fit the queue or belongs to
    /// the inline pipe: waits for room (or for a pipe to start), and hands pipe frames to the sink on this,
    /// the PULL stage's thread. What the sink sends through this end's PUSH stage is gathered and written by
    /// this thread when the group is done: a round of echoes costs one send per peer, and no other thread.
    /// </summary>
    private async ValueTask DeliverRestAsync(PacketGroup group, int next, CancellationToken cancellationToken)
    {
        var batching = false;
        try
        {
            for (var i = next; i < group.Count; i++)
            {
                var packet = group[i];
                InlinePipe? pipe;
                while (!TryEnqueue(packet, out pipe) && pipe is null)
                {
                    if (batching)
                        _push!.EndSendBatch();
                    batching = false;
                    if (!await WaitForRoomAsync(packet.Payload.Length, cancellationToken).ConfigureAwait(false))
                        return; // stopping: nobody will read the rest
                }
                if (pipe is null)
                    continue;
                batching = batching || _push!.BeginSendBatch();
                batching = await SendToPipeAsync(pipe, packet, batching).ConfigureAwait(false);
            }
        }
        finally
        {
            if (batching)
                _push!.EndSendBatch();
        }
    }

    /// <summary>One frame to the inline pipe, which <see cref="TryEnqueue"/> entered; returns whether this thread is still gathering its sends.</summary>
    private async ValueTask<bool> SendToPipeAsync(InlinePipe pipe, Packet packet, bool batching)
    {
        try
        {
            return await CallSinkAsync(pipe, packet, batching).ConfigureAwait(false);
        }
        finally
        {
            // The pipe's caller is told of its end only once the sink is no longer being called.
            pipe.Exit();
        }
    }

    private async ValueTask<bool> CallSinkAsync(InlinePipe pipe, Packet packet, bool batching)
    {
        var fields = packet.Fields;
        var payload = pipe.BorrowsPayloads || packet.Payload.IsEmpty ? packet.Payload : packet.Payload.ToArray();
        Counters.AddReceived(payload.Length);
        try
        {
            var sending = pipe.Sink.SendAsync(new Frame(payload, fields.Flags, fields.Channel, fields.Error), pipe.Token);
            if (sending.IsCompletedSuccessfully)
                return batching;
            // The sink waits: what this thread gathered goes out first (the sink may be waiting for
            // exactly that), and gathering starts again afterwards.
            if (batching)
                _push!.EndSendBatch();
            batching = false;
            await sending.ConfigureAwait(false);
            return _push!.BeginSendBatch();
        }
        catch (Exception e)
        {
            // A sink that fails because the pipe or the bridge is ending ends the pipe quietly; any other
            // failure is the pipe's outcome (that frame is lost, as with a pipe reading the queue).
            if (pipe.Token.IsCancellationRequested || IsStopping)
                pipe.Complete();
            else
                pipe.Fail(e);
            return batching;
        }
    }

    public ValueTask SendAsync(Frame frame, CancellationToken cancellationToken)
    {
        if (IsStopping)
            ThrowStopped();
        // Checked before waiting for a peer: otherwise a frame no peer can ever take waited for the next peer's handshake (for
        // ever with the default infinite send timeout and no peer) and only then failed its encoding.
        if (frame.Payload.Length > Options.MaxPayloadBytes)
            throw new ArgumentException($"The frame cannot be sent: its payload of {frame.Payload.Length} bytes is over MaxPayloadBytes ({Options.MaxPayloadBytes})", nameof(frame));
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
        // The PUSH connection the stage would have charged with a drop when it answered "every peer full": not counted then, since
        // this end tries again; counted once if the frame is given up after all (stop, timeout, cancellation), never if it goes out.
        Connection? owed = null;
        var sent = false;
        try
        {
            while (true)
            {
                // ZMQ_IMMEDIATE: nothing is queued while no PUSH peer has finished its handshake.
                await _pushReady.WaitAsync(linked.Token).ConfigureAwait(false);
                // Taken before the send: a peer that arrives or leaves while it runs completes it, so no change is missed.
                var changed = PushPeersChanged();
                var (outcome, full) = await _push!.SendToAnyAsync(frame.Payload, fields, Timeout.InfiniteTimeSpan, linked.Token).ConfigureAwait(false);
                if (outcome == AnyOutcome.Queued)
                {
                    sent = true;
                    Counters.AddSent(1, frame.Payload.Length);
                    return;
                }
                if (outcome == AnyOutcome.AllFull)
                {
                    owed = full ?? owed;
                    // Every peer stayed full (a sender on a service thread, which must not wait, found the stage's hold for a full
                    // peer over): the peers need not change at all, room must appear. Waited for here, or for a peer change (one
                    // with room arriving, the full one leaving), whichever comes first; then tried again.
                    await Task.WhenAny(_push.WhenRoomForAny(frame.Payload.Length), changed).WaitAsync(linked.Token).ConfigureAwait(false);
                    continue;
                }
                // No connection took it although the gate is open: the stage has counted the last peer's connection closed and
                // its Disconnected event (which closes the gate) has not been handled yet. A peer counted here is either still
                // established or about to be handled as gone, so the peers change: wait for that (the gate closing, or a new
                // peer arriving first), not round and round on a pool thread for as long as the event lags.
                await changed.WaitAsync(linked.Token).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            if (_stopping.IsCancellationRequested)
                ThrowStopped();
            // The send timeout fires on the thread that moves the clock: with a fake clock moved on a stage's service thread the
            // caller would go on there, where nothing may wait. Off to the pool first: a timeout is rare, a yield cheap beside it.
            await Task.CompletedTask.ConfigureAwait(ConfigureAwaitOptions.ForceYielding);
            throw new TimeoutException($"No peer took the frame within {Options.SendTimeout}.");
        }
        catch (FramingException e)
        {
            throw new ArgumentException($"The frame cannot be sent: {e.Message}", nameof(frame), e);
        }
        finally
        {
            if (!sent && owed is not null)
                _push!.CountGivenUp(owed, frame.Payload.Length);
        }
    }

    /// <summary>Completes when the next PUSH peer arrives or leaves.</summary>
    private Task PushPeersChanged()
    {
        lock (_lock)
        {
            _pushPeersChanged ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            return _pushPeersChanged.Task;
        }
    }

    private void SignalPushPeersChangedLocked()
    {
        _pushPeersChanged?.TrySetResult();
        _pushPeersChanged = null;
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

    /// <summary>A frame fits when the queue is empty (a frame larger than the byte bound still passes, alone) or within both bounds. Under the lock.</summary>
    private bool HasRoomFor(int bytes) =>
        _inboundCount == 0 || (_inboundCount < Options.ReceiveHighWaterMark && _inboundBytes + bytes <= Options.ReceiveBufferBytes);

    /// <summary>Waits until a frame of <paramref name="bytes"/> may fit or a pipe starts; false when stopping or cancelled.</summary>
    private async ValueTask<bool> WaitForRoomAsync(int bytes, CancellationToken cancellationToken)
    {
        Task room;
        lock (_lock)
        {
            // Checked under the lock that reads and pipe starts take, so neither is missed.
            if (HasRoomFor(bytes) || _pipe is { IsActive: true })
                return true;
            _inboundRoom ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            room = _inboundRoom.Task;
        }
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _stopping.Token);
        try
        {
            await room.WaitAsync(linked.Token).ConfigureAwait(false);
            return true;
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }

    /// <summary>The reader took a frame: it leaves the queue, and a delivery waiting for room may go on.</summary>
    private void Taken(Frame frame)
    {
        lock (_lock)
        {
            _inboundCount--;
            _inboundBytes -= frame.Payload.Length;
            SignalRoomLocked();
        }
    }

    private void SignalRoomLocked()
    {
        _inboundRoom?.TrySetResult();
        _inboundRoom = null;
    }

    /// <summary>
    /// <c>PipeToAsync</c> from this end, run inline on the PULL stage's thread. Frames already queued go
    /// to the sink first, from here; once the queue is empty the PULL thread takes over. Completes when the
    /// bridge stops, is cancelled with the token, or fails with the sink's exception.
    /// </summary>
    public async Task PipeInlineAsync(IFrameSink sink, bool borrowsPayloads, CancellationToken cancellationToken)
    {
        if (IsStopping)
            return;
        using var pipe = new InlinePipe(sink, borrowsPayloads, cancellationToken, _stopping.Token);
        lock (_lock)
        {
            if (_pipe is { IsActive: true } || _draining)
                throw new InvalidOperationException("the bridge's received frames are already being piped; a source has one reader");
            _draining = true;
        }
        try
        {
            while (true)
            {
                while (pipe.IsActive && TryRead(out var frame))
                    await sink.SendAsync(frame, pipe.Token).ConfigureAwait(false);
                lock (_lock)
                {
                    if (!pipe.IsActive || _inboundCount == 0)
                    {
                        _pipe = pipe;
                        // A delivery waiting for room goes on inline now.
                        SignalRoomLocked();
                        break;
                    }
                }
            }
        }
        catch (Exception e) when (pipe.Token.IsCancellationRequested && !cancellationToken.IsCancellationRequested && e is OperationCanceledException or ObjectDisposedException)
        {
            pipe.Complete(); // the bridge stopped while the queue drained
        }
        finally
        {
            lock (_lock)
                _draining = false;
        }

        try
        {
            // Not before the receiving thread has left the sink: the caller may dispose what its handler uses.
            await pipe.Settled.ConfigureAwait(false);
            await pipe.Completion.ConfigureAwait(false);
        }
        finally
        {
            lock (_lock)
            {
                if (_pipe == pipe)
                    _pipe = null;
            }
        }
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
