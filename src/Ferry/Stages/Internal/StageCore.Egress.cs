using System.Buffers;
using Ferry.Connections;
using Ferry.Framing;
using Ferry.Transport.Interop;

namespace Ferry.Stages.Internal;

/// <summary>The outcome of handing one message to one connection's egress buffer.</summary>
internal enum EnqueueResult
{
    Queued,
    Dropped,
    Closed,
    /// <summary>The connection's session has not finished its handshake: it takes no messages yet.</summary>
    NotReady,
    /// <summary>No room, and the policy is <c>wait</c>: the caller decides whether to wait.</summary>
    Full,
}

/// <summary>What one round of handing a message to any one connection found.</summary>
internal enum AnyOutcome
{
    Queued,
    /// <summary>No established connection: nothing was queued.</summary>
    NoPeer,
    /// <summary>Every established connection's egress is full (wait policy).</summary>
    AllFull,
}

internal abstract partial class StageCore
{
    /// <summary>Payloads from this size on are written through when the egress buffer is empty.</summary>
    private const int DirectSendBytes = 8 * 1024;

    private readonly TimeSpan _egressWaitTimeout;
    private readonly int _queueWhenDisconnected;
    private readonly int _holdBytesLimit;
    private readonly Queue<(byte[] Payload, FrameFields Fields)> _heldEgress = new();
    private long _heldBytes;
    private long _bytesOutClosed;
    private long _packetsOut;
    private long _egressBytesDropped;
    private long _egressPacketsDropped;
    private long _egressUnknownTarget;

    /// <summary>The stage's own subscription to <c>egress_packets</c>: routes and enqueues; waits only under the <c>wait</c> policy.</summary>
    private ValueTask HandleEgressAsync(EgressMessage message, CancellationToken cancellationToken)
    {
        try
        {
            var routing = RouteAsync(message, cancellationToken);
            return routing.IsCompletedSuccessfully ? default : AwaitRouting(routing, message.Connection);
        }
        catch (FramingException ex)
        {
            RaiseError(StageErrorKind.Egress, ex.Message, message.Connection);
            return default;
        }
    }

    private async ValueTask AwaitRouting(ValueTask<int> routing, ConnectionId connection)
    {
        try
        {
            await routing.ConfigureAwait(false);
        }
        catch (FramingException ex)
        {
            RaiseError(StageErrorKind.Egress, ex.Message, connection);
        }
    }

    /// <summary>Delivers a message to its targets; completes with how many connections took it.</summary>
    internal ValueTask<int> RouteAsync(EgressMessage message, CancellationToken cancellationToken)
    {
        var length = _encoder.GetEncodedLength(message.Payload.Length);
        if (_overflow != EgressOverflowPolicy.Wait)
            return new ValueTask<int>(RouteNow(message, length));
        return RouteWaitingAsync(message, length, cancellationToken);
    }

    /// <summary>Drop and disconnect policies: never waits, so it may hold the registry lock while enqueueing.</summary>
    private int RouteNow(in EgressMessage message, int length)
    {
        switch (message.Target)
        {
            case EgressTargetKind.Connection:
                if (_byId.TryGetValue(message.Connection, out var c) && Enqueue(c, message.Payload.Span, message.Fields, length) == EnqueueResult.Queued)
                    return 1;
                // A connection still in its session handshake is not connected yet for the application.
                if (c is null || c.Closed || !c.Established)
                    CountUnknownTarget(message.Connection);
                return 0;
            case EgressTargetKind.All:
                var delivered = 0;
                lock (_listLock)
                {
                    if (_establishedCount == 0)
                    {
                        HoldOrDrop(message);
                        return 0;
                    }
                    var payload = message.Payload.Span;
                    for (var i = 0; i < _count; i++)
                    {
                        var target = _list[i];
                        if (target.Id != message.Except && Enqueue(target, payload, message.Fields, length) == EnqueueResult.Queued)
                            delivered++;
                    }
                }
                return delivered;
            case EgressTargetKind.Group:
                return RouteToGroupNow(message, length);
            case EgressTargetKind.Any:
                return RouteToAnyNow(message, length);
            default:
                throw new ArgumentOutOfRangeException(nameof(message), message.Target, "unknown egress target");
        }
    }

    private async ValueTask<int> RouteWaitingAsync(EgressMessage message, int length, CancellationToken cancellationToken)
    {
        Connection[] targets;
        switch (message.Target)
        {
            case EgressTargetKind.Connection:
                if (!_byId.TryGetValue(message.Connection, out var one))
                {
                    CountUnknownTarget(message.Connection);
                    return 0;
                }
                targets = [one];
                break;
            case EgressTargetKind.All:
                lock (_listLock)
                {
                    if (_establishedCount == 0)
                    {
                        HoldOrDrop(message);
                        return 0;
                    }
                    targets = _list.AsSpan(0, _count).ToArray();
                }
                break;
            case EgressTargetKind.Any:
                return await RouteToAnyWaitingAsync(message, length, cancellationToken).ConfigureAwait(false);
            default:
                targets = GroupMembers(message.Group);
                break;
        }
        var delivered = 0;
        foreach (var c in targets)
        {
            if (c.Id == message.Except)
                continue;
            var result = Enqueue(c, message.Payload.Span, message.Fields, length);
            if (result == EnqueueResult.Full)
                result = await WaitAndEnqueueAsync(c, message.Payload, message.Fields, length, cancellationToken).ConfigureAwait(false);
            if (result == EnqueueResult.Queued)
                delivered++;
        }
        return delivered;
    }

    private int _nextAnyTarget;

    /// <summary>
    /// The <c>any</c> target under the drop and disconnect policies: the next established connection
    /// with room takes the message; when every one is full it is dropped once, charged to the one whose
    /// turn it was (which, under disconnect, goes as a slow consumer).
    /// </summary>
    private int RouteToAnyNow(in EgressMessage message, int length)
    {
        AnyOutcome outcome;
        Connection? turn;
        lock (_listLock)
        {
            outcome = EnqueueAnyLocked(message.Payload.Span, message.Fields, length, out turn, full: null);
            if (outcome == AnyOutcome.NoPeer)
                HoldOrDrop(message);
        }
        if (outcome == AnyOutcome.AllFull)
        {
            lock (turn!.EgressLock)
                DropLocked(turn, length);
        }
        return outcome == AnyOutcome.Queued ? 1 : 0;
    }

    /// <summary>The <c>any</c> target under the wait policy: waits up to the egress wait timeout for room, then drops.</summary>
    private async ValueTask<int> RouteToAnyWaitingAsync(EgressMessage message, int length, CancellationToken cancellationToken)
    {
        var (outcome, waitedOn) = await SendToAnyAsync(message.Payload, message.Fields, _egressWaitTimeout, cancellationToken, holdWhenNoPeer: message).ConfigureAwait(false);
        if (outcome == AnyOutcome.AllFull)
        {
            lock (waitedOn!.EgressLock)
                DropLocked(waitedOn, length);
        }
        return outcome == AnyOutcome.Queued ? 1 : 0;
    }

    /// <summary>
    /// Hands a message to exactly one established connection, round-robin, as a ZeroMQ PUSH socket
    /// does: connections whose egress is full are passed over, and when every one is full this waits
    /// for the first to make room, up to <paramref name="timeout"/> (then <see cref="AnyOutcome.AllFull"/>
    /// with the connection waited on). With no established connection it completes with
    /// <see cref="AnyOutcome.NoPeer"/> at once, after holding <paramref name="holdWhenNoPeer"/> as a
    /// broadcast to nobody is held, when given; the bridge passes none and waits for a peer itself.
    /// </summary>
    internal async ValueTask<(AnyOutcome Outcome, Connection? WaitedOn)> SendToAnyAsync(ReadOnlyMemory<byte> payload, FrameFields fields, TimeSpan timeout, CancellationToken cancellationToken, EgressMessage? holdWhenNoPeer = null)
    {
        var length = _encoder.GetEncodedLength(payload.Length);
        var deadline = timeout == Timeout.InfiniteTimeSpan ? long.MaxValue : Environment.TickCount64 + (long)timeout.TotalMilliseconds;
        // Only a message that finds every connection full needs the list of them: allocated then.
        List<Connection>? full = null;
        while (true)
        {
            AnyOutcome outcome;
            Connection? waitOn;
            full?.Clear();
            lock (_listLock)
            {
                outcome = EnqueueAnyLocked(payload.Span, fields, length, out waitOn, full);
                if (outcome == AnyOutcome.NoPeer && holdWhenNoPeer is { } held)
                    HoldOrDrop(held);
            }
            if (outcome != AnyOutcome.AllFull)
                return (outcome, null);
            if (full is null)
            {
                full = [];
                continue; // once more, collecting every full connection to wait on
            }
            var left = deadline == long.MaxValue ? long.MaxValue : deadline - Environment.TickCount64;
            if (left <= 0)
                return (AnyOutcome.AllFull, waitOn);
            if (OnServiceThread)
            {
                // The loop that would make room is this thread: write what can be written, wait briefly on
                // the socket whose turn it was, then look at every connection again.
                foreach (var c in full)
                    Flush(c);
                if (!waitOn!.Closed && !SpaceAppeared(waitOn, length))
                    Libc.WaitWritable(waitOn.Fd, (int)Math.Min(left, 100));
                continue;
            }
            var spaces = WaitersForSpace(full, length);
            if (spaces is null)
                continue; // one made room or closed meanwhile: the next round finds out
            try
            {
                // Whichever full connection makes room first takes the message.
                var first = Task.WhenAny(spaces);
                if (left == long.MaxValue)
                    await first.WaitAsync(cancellationToken).ConfigureAwait(false);
                else
                    await first.WaitAsync(TimeSpan.FromMilliseconds(Math.Min(left, int.MaxValue)), cancellationToken).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
                // The next round sends if room appeared at the last moment, or gives up.
            }
        }
    }

    /// <summary>
    /// Registers for space on each full connection; null when one of them already has room or has
    /// closed (checked after registering, so no wake-up is missed).
    /// </summary>
    private Task[]? WaitersForSpace(List<Connection> full, int length)
    {
        var spaces = new Task[full.Count];
        for (var i = 0; i < full.Count; i++)
        {
            var c = full[i];
            lock (c.EgressLock)
            {
                if (c.Closed)
                    return null;
                c.SpaceWaiter ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                spaces[i] = c.SpaceWaiter.Task;
            }
            if (SpaceAppeared(c, length))
                return null;
        }
        return spaces;
    }

    /// <summary>
    /// One round of <see cref="SendToAnyAsync"/> that never waits, so a caller can try before it sets up
    /// cancellation. <paramref name="firstFull"/> is the connection to wait on when every one is full.
    /// </summary>
    internal AnyOutcome TryEnqueueAny(ReadOnlySpan<byte> payload, in FrameFields fields, out Connection? firstFull)
    {
        var length = _encoder.GetEncodedLength(payload.Length);
        lock (_listLock)
            return EnqueueAnyLocked(payload, fields, length, out firstFull, full: null);
    }

    /// <summary>
    /// One pass over the established connections from the next in turn; full ones are passed over (and
    /// collected in <paramref name="full"/> when given). Under the list lock.
    /// </summary>
    private AnyOutcome EnqueueAnyLocked(ReadOnlySpan<byte> payload, in FrameFields fields, int length, out Connection? firstFull, List<Connection>? full)
    {
        firstFull = null;
        if (_establishedCount == 0)
            return AnyOutcome.NoPeer;
        var start = (int)((uint)_nextAnyTarget++ % (uint)_count);
        for (var i = 0; i < _count; i++)
        {
            var c = _list[(start + i) % _count];
            if (!c.Established)
                continue;
            var result = Enqueue(c, payload, fields, length, passOverWhenFull: true);
            if (result == EnqueueResult.Queued)
                return AnyOutcome.Queued;
            if (result != EnqueueResult.Full)
                continue;
            firstFull ??= c;
            full?.Add(c);
        }
        return firstFull is null ? AnyOutcome.NoPeer : AnyOutcome.AllFull;
    }

    private bool SpaceAppeared(Connection c, int length)
    {
        lock (c.EgressLock)
            return c.Closed || c.Egress.IsEmpty || c.Egress.Length + length <= _egressLimit;
    }

    private void CountUnknownTarget(ConnectionId id)
    {
        Interlocked.Increment(ref _egressUnknownTarget);
        Log.UnknownTarget(Logger, Name, id);
    }

    /// <summary>A broadcast found nobody: kept for the first client (<c>queue_when_disconnected</c>) or dropped and counted. Under the list lock.</summary>
    private void HoldOrDrop(in EgressMessage message)
    {
        if (_queueWhenDisconnected == 0)
        {
            CountDropped(message.Payload.Length);
            return;
        }
        // Encoded once into scratch space now, so a payload the framing refuses fails its sender here
        // instead of the service thread when the first client arrives.
        _encoder.Encode(message.Payload.Span, message.Fields, new ArrayBufferWriter<byte>(_encoder.GetEncodedLength(message.Payload.Length)));
        _heldEgress.Enqueue((message.Payload.ToArray(), message.Fields));
        _heldBytes += message.Payload.Length;
        // Bounded both in messages and in bytes; the oldest go first.
        while (_heldEgress.Count > _queueWhenDisconnected || _heldBytes > _holdBytesLimit)
        {
            var dropped = _heldEgress.Dequeue().Payload.Length;
            _heldBytes -= dropped;
            CountDropped(dropped);
        }
    }

    /// <summary>Gives the first client what was held while nobody was connected. Under the list lock.</summary>
    private void DeliverHeld(Connection c)
    {
        while (_heldEgress.TryDequeue(out var held))
        {
            _heldBytes -= held.Payload.Length;
            var result = Enqueue(c, held.Payload, held.Fields, _encoder.GetEncodedLength(held.Payload.Length));
            if (result == EnqueueResult.Full)
                CountDropped(held.Payload.Length);
        }
    }

    private void CountDropped(int bytes)
    {
        Interlocked.Add(ref _egressBytesDropped, bytes);
        Interlocked.Increment(ref _egressPacketsDropped);
    }

    /// <summary>
    /// Encodes one message into a connection's bounded egress buffer. Any thread; never waits. With
    /// <paramref name="passOverWhenFull"/> a full buffer answers <see cref="EnqueueResult.Full"/> whatever
    /// the policy, so a router choosing among connections can try the next one.
    /// </summary>
    internal EnqueueResult Enqueue(Connection c, ReadOnlySpan<byte> payload, in FrameFields fields, int encodedLength, bool passOverWhenFull = false)
    {
        bool schedule;
        lock (c.EgressLock)
        {
            if (c.Closed)
                return EnqueueResult.Closed;
            if (!c.Established)
                return EnqueueResult.NotReady;
            // Under wait, a message larger than the whole buffer is taken once the buffer is empty:
            // waiting cannot make more room than that, and dropping it would lose it silently.
            if (c.Egress.Length + encodedLength > _egressLimit && !(_overflow == EgressOverflowPolicy.Wait && c.Egress.IsEmpty))
            {
                if (_overflow == EgressOverflowPolicy.Wait || passOverWhenFull)
                    return EnqueueResult.Full;
                DropLocked(c, encodedLength);
                return EnqueueResult.Dropped;
            }
            if (encodedLength >= DirectSendBytes && _raw && c.Egress.IsEmpty && !c.WantsWritable)
            {
                // A large raw message with nothing queued ahead of it goes straight to the socket:
                // no copy into the egress buffer; only what the kernel does not take is queued.
                var sent = SendDirect(c, payload);
                if (sent == payload.Length)
                {
                    c.PacketsOut++;
                    Interlocked.Increment(ref _packetsOut);
                    return EnqueueResult.Queued;
                }
                c.Egress.Write(payload[sent..]);
            }
            else
            {
                _encoder.Encode(payload, fields, c.Egress);
            }
            c.PacketsOut++;
            schedule = !c.FlushScheduled;
            c.FlushScheduled = true;
        }
        Interlocked.Increment(ref _packetsOut);
        if (schedule)
        {
            if (OnServiceThread)
            {
                _dirty.Add(c);
            }
            else
            {
                _remoteDirty.Enqueue(c);
                Reactor.Wake();
            }
        }
        return EnqueueResult.Queued;
    }

    /// <summary>Counts a message dropped for a connection; under disconnect, the connection goes as a slow consumer. Under its egress lock.</summary>
    private void DropLocked(Connection c, int encodedLength)
    {
        c.EgressBytesDropped += encodedLength;
        c.EgressPacketsDropped++;
        CountDropped(encodedLength);
        if (_overflow == EgressOverflowPolicy.Disconnect && c.CloseRequested is null)
        {
            c.CloseRequested = new CloseRequest(DisconnectReason.SlowConsumer, $"egress buffer full ({_egressLimit} bytes)", null);
            RequestClose(c, c.CloseRequested);
        }
    }

    /// <summary>The <c>wait</c> policy: holds the caller until the client has room or the timeout passes (then drops).</summary>
    private async ValueTask<EnqueueResult> WaitAndEnqueueAsync(Connection c, ReadOnlyMemory<byte> payload, FrameFields fields, int length, CancellationToken cancellationToken)
    {
        var deadline = Environment.TickCount64 + (long)_egressWaitTimeout.TotalMilliseconds;
        while (true)
        {
            Task space;
            lock (c.EgressLock)
            {
                if (c.Closed)
                    return EnqueueResult.Closed;
                c.SpaceWaiter ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                space = c.SpaceWaiter.Task;
            }
            var result = Enqueue(c, payload.Span, fields, length);
            if (result != EnqueueResult.Full)
                return result;
            var left = deadline - Environment.TickCount64;
            if (left <= 0)
                break;
            if (OnServiceThread)
            {
                // The loop that would make room is this thread: write what can be written and wait
                // on the socket itself. The whole stage waits for this client: that is what wait means.
                Flush(c);
                if (!c.Closed && !c.Egress.IsEmpty && c.Egress.Length + length > _egressLimit)
                    Libc.WaitWritable(c.Fd, (int)Math.Min(left, 100));
                continue;
            }
            try
            {
                await space.WaitAsync(TimeSpan.FromMilliseconds(Math.Min(left, int.MaxValue)), cancellationToken).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
                break;
            }
        }
        lock (c.EgressLock)
            DropLocked(c, length);
        return EnqueueResult.Dropped;
    }

    /// <summary>One non-blocking send under the egress lock; returns bytes taken (0 when the socket is full or failed: the flush path reports errors).</summary>
    private unsafe int SendDirect(Connection c, ReadOnlySpan<byte> payload)
    {
        nint n;
        c.SendCalls++;
        fixed (byte* p = payload)
            n = Libc.send(c.Fd, p, payload.Length, Libc.MSG_NOSIGNAL | Libc.MSG_DONTWAIT);
        if (n <= 0)
            return 0;
        c.BytesOut += n;
        return (int)n;
    }

    private void DrainRequests()
    {
        while (_remoteDirty.TryDequeue(out var c))
            _dirty.Add(c);
        while (_closeRequests.TryDequeue(out var request))
            Close(request.Connection, request.Request.Reason, request.Request.Detail, request.Request.Code);
    }

    /// <summary>Writes what each connection has queued: one send per connection per loop round.</summary>
    private void FlushDirty()
    {
        // Index loop: flushing never adds to the list, and closing only marks connections.
        for (var i = 0; i < _dirty.Count; i++)
            Flush(_dirty[i]);
        _dirty.Clear();
    }

    private unsafe void Flush(Connection c)
    {
        var errno = 0;
        bool pending;
        TaskCompletionSource? waiter = null;
        lock (c.EgressLock)
        {
            c.FlushScheduled = false;
            if (c.Closed)
                return;
            while (!c.Egress.IsEmpty)
            {
                var span = c.Egress.Pending;
                nint n;
                c.SendCalls++; // counted before the call: the peer may see the bytes before send() returns
                fixed (byte* p = span)
                    n = Libc.send(c.Fd, p, span.Length, Libc.MSG_NOSIGNAL);
                if (n > 0)
                {
                    c.Egress.Consume((int)n);
                    c.BytesOut += n;
                    if (n < span.Length)
                        break; // the kernel buffer is full; epoll tells when it has room
                    continue;
                }
                errno = Libc.LastError;
                if (errno == Libc.EINTR)
                {
                    errno = 0;
                    continue;
                }
                break;
            }
            pending = !c.Egress.IsEmpty;
            if (c.SpaceWaiter is not null && c.Egress.Length < _egressLimit)
            {
                waiter = c.SpaceWaiter;
                c.SpaceWaiter = null;
            }
        }
        waiter?.TrySetResult();
        if (errno != 0 && errno != Libc.EAGAIN)
        {
            Close(c, DisconnectReason.Reset, Libc.Describe(errno));
            return;
        }
        if (pending != c.WantsWritable)
        {
            c.WantsWritable = pending;
            Reactor.Modify(c.Fd, pending ? Libc.EPOLLIN | Libc.EPOLLRDHUP | Libc.EPOLLOUT : Libc.EPOLLIN | Libc.EPOLLRDHUP, TokenOf(c));
        }
    }
}
