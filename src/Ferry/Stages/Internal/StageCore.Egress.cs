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
}

internal abstract partial class StageCore
{
    private long _bytesOutClosed;
    private long _packetsOut;
    private long _egressBytesDropped;
    private long _egressPacketsDropped;
    private long _egressUnknownTarget;

    /// <summary>The stage's own subscription to <c>egress_packets</c>: routes and enqueues, never waits.</summary>
    private ValueTask HandleEgressAsync(EgressMessage message, CancellationToken cancellationToken)
    {
        try
        {
            Route(message);
        }
        catch (FramingException ex)
        {
            RaiseError(StageErrorKind.Egress, ex.Message, message.Connection);
        }
        return default;
    }

    /// <summary>Delivers a message to its targets; returns how many connections took it.</summary>
    internal int Route(in EgressMessage message)
    {
        var length = _encoder.GetEncodedLength(message.Payload.Length);
        switch (message.Target)
        {
            case EgressTargetKind.Connection:
                if (_byId.TryGetValue(message.Connection, out var c) && Enqueue(c, message.Payload.Span, message.Fields, length) == EnqueueResult.Queued)
                    return 1;
                if (c is null || c.Closed)
                {
                    Interlocked.Increment(ref _egressUnknownTarget);
                    Log.UnknownTarget(Logger, Name, message.Connection);
                }
                return 0;
            case EgressTargetKind.All:
                return Broadcast(message, length);
            case EgressTargetKind.Group:
                return RouteToGroup(message, length);
            default:
                throw new ArgumentOutOfRangeException(nameof(message), message.Target, "unknown egress target");
        }
    }

    private int Broadcast(in EgressMessage message, int length)
    {
        var delivered = 0;
        lock (_listLock)
        {
            if (_count == 0)
            {
                OnEgressWithoutConnections(message);
                return 0;
            }
            var payload = message.Payload.Span;
            for (var i = 0; i < _count; i++)
            {
                var c = _list[i];
                if (c.Id == message.Except)
                    continue;
                if (Enqueue(c, payload, message.Fields, length) == EnqueueResult.Queued)
                    delivered++;
            }
        }
        return delivered;
    }

    /// <summary>Group routing belongs to the group registry; without one a group has no members.</summary>
    protected virtual int RouteToGroup(in EgressMessage message, int length) => 0;

    /// <summary>A broadcast found nobody: dropped and counted (the seed's "or dropped otherwise").</summary>
    protected virtual void OnEgressWithoutConnections(in EgressMessage message)
    {
        Interlocked.Add(ref _egressBytesDropped, message.Payload.Length);
        Interlocked.Increment(ref _egressPacketsDropped);
    }

    /// <summary>Encodes one message into a connection's bounded egress buffer. Any thread.</summary>
    internal EnqueueResult Enqueue(Connection c, ReadOnlySpan<byte> payload, in FrameFields fields, int encodedLength)
    {
        bool schedule;
        lock (c.EgressLock)
        {
            if (c.Closed)
                return EnqueueResult.Closed;
            if (c.Egress.Length + encodedLength > _egressLimit)
            {
                c.EgressBytesDropped += encodedLength;
                c.EgressPacketsDropped++;
                Interlocked.Add(ref _egressBytesDropped, encodedLength);
                Interlocked.Increment(ref _egressPacketsDropped);
                if (_overflow == EgressOverflowPolicy.Disconnect && c.CloseRequested is null)
                {
                    c.CloseRequested = new CloseRequest(DisconnectReason.SlowConsumer, $"egress buffer full ({_egressLimit} bytes)", null);
                    RequestClose(c, c.CloseRequested);
                }
                return EnqueueResult.Dropped;
            }
            if (encodedLength >= DirectSendBytes && c.Egress.IsEmpty && !c.WantsWritable && _raw)
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
                payload = payload[Math.Max(sent, 0)..];
                c.Egress.Write(payload);
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

    /// <summary>Payloads from this size on are written through when the egress buffer is empty.</summary>
    private const int DirectSendBytes = 8 * 1024;

    /// <summary>One non-blocking send under the egress lock; returns bytes taken (0 when the socket is full or failed: the flush path reports errors).</summary>
    private unsafe int SendDirect(Connection c, ReadOnlySpan<byte> payload)
    {
        nint n;
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
        lock (c.EgressLock)
        {
            c.FlushScheduled = false;
            if (c.Closed)
                return;
            while (!c.Egress.IsEmpty)
            {
                var span = c.Egress.Pending;
                nint n;
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
        }
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
