using System.Buffers;
using Ferry.Connections;
using Ferry.Framing;
using Ferry.Framing.Internal;
using Ferry.Transport;

namespace Ferry.Stages.Internal;

/// <summary>
/// A connection's way in: receives, keeps an unfinished frame between reads, decodes, and hands each
/// message to the grouper. Service thread only.
/// </summary>
/// <remarks>
/// Raw framing receives straight into the open group's slab, so the kernel's copy is the only one.
/// Other framings receive into one shared buffer and decode in place; only an unfinished frame moves
/// into a per-connection rented buffer, so an idle connection holds no memory.
/// </remarks>
internal sealed class FrameReader
{
    /// <summary>Partial-frame buffers up to this size (a power of two) come from the shared pool: the common
    /// case, a partial frame plus one read, must cost no allocation. Larger ones are allocated and left to
    /// the GC, so a burst of big partial frames does not stay pinned in the pool afterwards.</summary>
    private const int PooledPendingBytes = 256 * 1024;

    private readonly byte[] _readBuffer;
    private readonly int _maxBuffered;
    private readonly long _maxPendingTotal;
    /// <summary>Bytes of partial-frame buffers held by all connections (capacity, not content: that is the memory).</summary>
    private long _pendingTotal;
    /// <summary>The most partial-frame memory held since memory was last handed back.</summary>
    private long _peakPending;
    private long _lastReclaimMs;
    private readonly IFraming _framing;
    private readonly bool _raw;
    /// <summary>Raw framing whose max_frame_bytes is below one read: a receive may hold several packets.</summary>
    private readonly bool _rawCut;
    private readonly ISessionFraming? _sessionFraming;
    /// <summary>Where sessions write protocol bytes; moved to the connection's egress after every call.</summary>
    private readonly ArrayBufferWriter<byte> _sessionOutput = new(256);
    private readonly PacketGrouper _grouper;
    private readonly ConnectionWriter _writer;
    private readonly IConnectionLifecycle _lifecycle;
    private readonly StageCounters _counters;
    private readonly EventSink _events;

    public FrameReader(CoreSettings settings, PacketGrouper grouper, ConnectionWriter writer, IConnectionLifecycle lifecycle, StageCounters counters, EventSink events)
    {
        _framing = settings.Framing;
        _raw = _framing.IsRaw;
        _sessionFraming = _framing as ISessionFraming;
        _readBuffer = GC.AllocateUninitializedArray<byte>(settings.ReadBufferBytes, pinned: true);
        _rawCut = _raw && _framing.MaxFrameBytes < _readBuffer.Length;
        // Decoders never keep more than a frame and its overhead unconsumed; this is the backstop
        // should one do so. With the next read on top, that is the most a connection can hold.
        _maxBuffered = (int)Math.Min((long)_framing.MaxFrameBytes + _framing.FrameOverheadBytes, Array.MaxLength);
        _maxPendingTotal = settings.MaxPendingBytes;
        _grouper = grouper;
        _writer = writer;
        _lifecycle = lifecycle;
        _counters = counters;
        _events = events;
    }

    /// <summary>The PROXY protocol in front of the framing; null when the stage does not speak it.</summary>
    public ProxyHeaderGate? ProxyHeaders { get; set; }

    /// <summary>Whether connections start with a session handshake before they are established.</summary>
    public bool HasSessions => _sessionFraming is not null;

    /// <summary>Sets up a new connection's decoding; a session framing speaks first (its greeting).</summary>
    public void Attach(Connection c)
    {
        if (_sessionFraming is null)
        {
            c.Decoder = _raw ? null : _framing.CreateDecoder();
            return;
        }
        var session = _sessionFraming.CreateSession(_sessionOutput);
        c.Session = session;
        c.Decoder = session;
        session.Start();
        SendSessionOutput(c);
    }

    /// <summary>The connection is readable (or hung up): one receive, then decode.</summary>
    public void OnReadable(Connection c)
    {
        // Until a PROXY header is dealt with, raw connections take the framed path: the header may come in
        // pieces and must not reach a packet.
        if (_raw && c.ProxyHeader == ProxyHeaderState.None)
            ReadRaw(c);
        else
            ReadFramed(c);
        // A handler's connection: what this read decoded goes to its handler as one batch.
        c.Inbox?.EndRead();
    }

    private void ReadRaw(Connection c)
    {
        if (c.Inbox is not null || _rawCut)
        {
            // A handler's connection: what was read is copied into its handler's batch anyway, so it is
            // read into the shared buffer rather than a group's slab (which it may not need). With a
            // max_frame_bytes below one read, a receive is cut into several packets, and the open group
            // may fill and be published between two of them: the bytes must not live in its slab then,
            // so they take one copy (only when the operator asked for small packets).
            var n0 = c.Io.Receive(_readBuffer, out var error0);
            if (n0 <= 0)
            {
                OnReadEnd(c, n0, error0);
                return;
            }
            CountIn(c, n0);
            c.Inbox?.BeginRead(n0);
            AddRaw(c, _readBuffer.AsSpan(0, n0));
            return;
        }
        // Raw framing: receive straight into the open group's slab, so the payload is copied once,
        // by the kernel, and never again on the way in.
        var group = _grouper.Open();
        var target = group.ReserveForReceive(_readBuffer.Length);
        var n = c.Io.Receive(target, out var error);
        if (n <= 0)
        {
            _grouper.DiscardIfEmpty();
            OnReadEnd(c, n, error);
            return;
        }
        CountIn(c, n);
        group.CommitReceived(c.Id, c.Peer, _events.Clock.NowUtcTicks, n);
        _grouper.Added(c);
    }

    /// <summary>Hands received bytes (not empty) to the grouper as raw packets of at most max_frame_bytes each.</summary>
    private void AddRaw(Connection c, ReadOnlySpan<byte> received)
    {
        var max = _framing.MaxFrameBytes;
        while (received.Length > max)
        {
            _grouper.Add(c, received[..max], default);
            received = received[max..];
        }
        _grouper.Add(c, received, default);
    }

    private void ReadFramed(Connection c)
    {
        byte[] buffer;
        int start, count;
        if (c.Pending is null)
        {
            buffer = _readBuffer;
            start = 0;
            count = 0;
        }
        else
        {
            if (!MakeRoom(c))
                return;
            (buffer, start, count) = (c.Pending!, c.PendingStart, c.PendingLength);
        }
        var continuing = c.Pending is not null;

        var room = Math.Min(buffer.Length - start - count, _readBuffer.Length);
        var n = c.Io.Receive(buffer.AsSpan(start + count, room), out var error);
        if (n <= 0)
        {
            OnReadEnd(c, n, error);
            return;
        }
        CountIn(c, n);
        count += n;

        var input = new ReadOnlySequence<byte>(buffer, start, count);
        // The messages of this read fit in its bytes: the handler's batch is sized once.
        c.Inbox?.BeginRead(count);
        var frames = 0;
        if (c.ProxyHeader == ProxyHeaderState.None)
        {
            frames = DecodeAll(c, ref input);
        }
        else
        {
            var taken = ProxyHeaders!.Consume(c, buffer.AsSpan(start, count));
            if (taken == ProxyHeaderGate.Closed)
                return;
            if (taken != ProxyHeaderGate.NeedMore)
            {
                input = input.Slice(taken);
                if (_raw)
                {
                    // What came with the header is the client's first packet (or packets, cut at
                    // max_frame_bytes); later reads go straight to the slab.
                    if (taken < count)
                        AddRaw(c, buffer.AsSpan(start + taken, count - taken));
                    ReleasePending(c);
                    return;
                }
                frames = DecodeAll(c, ref input);
            }
        }
        if (frames < 0)
            return;
        var left = (int)input.Length;
        if (left == 0)
        {
            ReleasePending(c);
            // Only after a skip (the rare case) is the decoder asked whether it is still inside the frame it drops.
            if (c.SkippingFrame)
                SkipRead(c, frames);
            return;
        }
        // A skip that ended in this read left a new frame begun (a read, not a store, on the common path).
        if (c.SkippingFrame)
            c.SkippingFrame = false;
        // (A PROXY header still coming is bounded by its parser, not by max_frame_bytes.)
        if (left > _maxBuffered && c.ProxyHeader == ProxyHeaderState.None)
        {
            FrameFailed(c, new FrameError(FrameErrorKind.Oversize, $"{left} bytes buffered without a complete frame (max_frame_bytes {_framing.MaxFrameBytes})"), close: true);
            return;
        }
        // The frame deadline runs from the first byte of the frame that is still unfinished.
        if (!continuing || frames > 0)
            c.PartialSinceMs = _events.Clock.NowMs;
        var consumed = count - left;
        if (buffer == _readBuffer)
        {
            // Keep only the unfinished frame; idle connections hold no buffer at all.
            var pending = RentPending(c, Math.Max(left, (int)Math.Min(Math.Max(left * 2L, 4096), (long)_maxBuffered + _readBuffer.Length)), left);
            if (pending is null)
                return;
            buffer.AsSpan(start + consumed, left).CopyTo(pending);
            c.Pending = pending;
            c.PendingStart = 0;
        }
        else
        {
            c.PendingStart = start + consumed;
        }
        c.PendingLength = left;
    }

    /// <summary>
    /// A read that consumed everything after a skip: whether the decoder is still dropping a bad frame, and since when.
    /// After a frame or a skip in this read, a skip still going began in it (one skip ends before anything else is
    /// decoded); after none, it is the one of an earlier read and keeps its start.
    /// </summary>
    private void SkipRead(Connection c, int frames)
    {
        if (c.Decoder is ISkippingDecoder { IsSkipping: true })
        {
            if (frames > 0)
                c.PartialSinceMs = _events.Clock.NowMs;
        }
        else
        {
            c.SkippingFrame = false;
        }
    }

    /// <summary>
    /// A buffer for a partial frame, charged to the stage's budget; null when the budget would be
    /// exceeded, in which case the connection has been closed with reason <c>memory_limit</c>.
    /// </summary>
    private byte[]? RentPending(Connection c, int size, int holding)
    {
        var old = c.Pending?.Length ?? 0;
        // Charged at the size actually held (the pool rounds up to a power of two).
        var buffer = size <= PooledPendingBytes ? ArrayPool<byte>.Shared.Rent(size) : GC.AllocateUninitializedArray<byte>(size);
        if (_maxPendingTotal > 0 && _pendingTotal - old + buffer.Length > _maxPendingTotal)
        {
            if (buffer.Length <= PooledPendingBytes)
                ArrayPool<byte>.Shared.Return(buffer);
            _lifecycle.Close(c, DisconnectReason.MemoryLimit,
                $"its partial frame ({holding} bytes so far) would take the stage's unfinished frames over max_pending_bytes {_maxPendingTotal}");
            return null;
        }
        _pendingTotal += buffer.Length;
        _peakPending = Math.Max(_peakPending, _pendingTotal - old);
        return buffer;
    }

    private void ReturnPending(byte[] buffer)
    {
        _pendingTotal -= buffer.Length;
        if (buffer.Length <= PooledPendingBytes)
            ArrayPool<byte>.Shared.Return(buffer);
    }

    /// <summary>Partial-frame memory (bytes) held at a peak after which, once it has gone, the stage hands memory back to the system.</summary>
    internal const long ReclaimAfterBytes = 32L * 1024 * 1024;

    /// <summary>
    /// After a burst of large partial frames has gone (clients that held 1 MiB frames open and left),
    /// hands the memory back to the operating system: nothing else may allocate enough to make the GC
    /// run, so without this the process would keep its peak size. At most every few seconds, and only
    /// once most of that memory is no longer held. Service thread.
    /// </summary>
    public void ReclaimMemoryIfDue()
    {
        var now = _events.Clock.NowMs;
        // Only after a burst (a high peak) has mostly gone: steady traffic never pays for a collection.
        if (_peakPending < ReclaimAfterBytes || _pendingTotal > _peakPending / 4 || now - _lastReclaimMs < 5_000)
            return;
        _peakPending = _pendingTotal;
        _lastReclaimMs = now;
        GC.Collect(2, GCCollectionMode.Aggressive, blocking: true, compacting: true);
    }

    /// <summary>
    /// Makes room for one more read behind a kept partial frame: moves it to the front or into a bigger
    /// buffer (never bigger than a whole frame plus one read). False when the connection was closed
    /// because the bigger buffer would break the stage's budget.
    /// </summary>
    private bool MakeRoom(Connection c)
    {
        var buffer = c.Pending!;
        var start = c.PendingStart;
        var count = c.PendingLength;
        var want = _readBuffer.Length;
        if (buffer.Length - start - count >= want)
            return true;
        if (buffer.Length - count >= want)
        {
            buffer.AsSpan(start, count).CopyTo(buffer);
        }
        else
        {
            var size = (int)Math.Min(Math.Max((long)buffer.Length * 2, (long)count + want), (long)_maxBuffered + want);
            var bigger = RentPending(c, Math.Max(size, count + want), count);
            if (bigger is null)
                return false;
            buffer.AsSpan(start, count).CopyTo(bigger);
            ReturnPending(buffer);
            c.Pending = bigger;
        }
        c.PendingStart = 0;
        return true;
    }

    /// <summary>Decodes every whole frame in <paramref name="input"/>; how many, or -1 when the connection was closed.</summary>
    private int DecodeAll(Connection c, ref ReadOnlySequence<byte> input)
    {
        var decoder = c.Decoder!;
        var frames = 0;
        while (true)
        {
            DecodeStatus status;
            ReadOnlySequence<byte> payload;
            FrameFields fields;
            FrameError error;
            try
            {
                status = decoder.Decode(ref input, out payload, out fields, out error);
            }
            catch (Exception ex)
            {
                // The try costs nothing while nothing throws; only a decoder of the application's may throw.
                DecoderFailed(c, decoder, ex);
                return -1;
            }
            if (c.Session is { } session)
            {
                // Replies first: a handshake answer or a PONG precedes anything sent in reaction to the message.
                SendSessionOutput(c);
                if (!c.Established && session.IsEstablished)
                    _lifecycle.Establish(c);
            }
            switch (status)
            {
                case DecodeStatus.Frame:
                    _grouper.Add(c, payload, fields);
                    frames++;
                    break;
                case DecodeStatus.Skipped:
                    c.SkippingFrame = true;
                    FrameFailed(c, error, close: false);
                    frames++;
                    break;
                case DecodeStatus.Error:
                    FrameFailed(c, error, close: true);
                    return -1;
                default:
                    return frames;
            }
        }
    }

    private void OnReadEnd(Connection c, int result, int error)
    {
        if (result == 0)
        {
            if (!_raw && c.Pending is not null && c.ProxyHeader == ProxyHeaderState.None)
                DecodeEnd(c);
            // A client that sends its request and then shuts down its side still reads the answer.
            if (!_writer.DrainAfterPeerFinished(c))
                _lifecycle.Close(c, DisconnectReason.RemoteClosed);
            return;
        }
        if (error == 0)
            return; // nothing to read after all
        var reason = error switch
        {
            IConnectionIo.HandshakeFailedError => DisconnectReason.TlsError,
            IConnectionIo.ProxyRefusedError => DisconnectReason.ProxyProtocol,
            _ => DisconnectReason.Reset,
        };
        _lifecycle.Close(c, reason, c.Io.DescribeError(error));
    }

    /// <summary>The peer closed: the framing decides what the bytes left over are.</summary>
    private void DecodeEnd(Connection c)
    {
        var input = new ReadOnlySequence<byte>(c.Pending!, c.PendingStart, c.PendingLength);
        while (true)
        {
            DecodeStatus status;
            ReadOnlySequence<byte> payload;
            FrameFields fields;
            FrameError error;
            try
            {
                status = c.Decoder!.DecodeEnd(ref input, out payload, out fields, out error);
            }
            catch (Exception ex)
            {
                DecoderFailed(c, c.Decoder!, ex);
                return;
            }
            if (status == DecodeStatus.Frame)
            {
                _grouper.Add(c, payload, fields);
                continue;
            }
            // The peer has finished sending: the connection is not closed for it (its queued egress is still
            // written), but an Error is not "skipped, the connection goes on" either.
            if (status is DecodeStatus.Error or DecodeStatus.Skipped)
                FrameFailed(c, error, close: false, skipped: status == DecodeStatus.Skipped);
            if (status != DecodeStatus.Skipped)
                return;
        }
    }

    // skipped, for the error event: the bad bytes were dropped and decoding goes on (by default, when not closing).
    private void FrameFailed(Connection c, in FrameError error, bool close, bool? skipped = null)
    {
        // Closing for it is decided now: the log line and the error event below run the application's code (a logger, an
        // Error handler) before the close, and a message it sends to this connection must be refused, not queued for the
        // close to drop. (A session's refusal is its own bytes, written by the flush below.)
        if (close)
            c.Closing = true;
        _counters.FrameErrors++;
        // A skipped frame stands between the frames before and after it: those before are published first, so that whoever
        // counts frames (ferry run's reply pair, which matches answers to requests in order) hears of the skip in its place.
        if (!close && _grouper.HasOpenPackets)
            _grouper.PublishOpen();
        // One log line per bad frame at most, and a flood of them is rate-limited: a client sending
        // garbage must not be able to fill the operator's disk.
        if (_events.MayWarn(WarningKind.FrameError))
            Log.FrameError(_events.Logger, _events.Stage, c.Id, c.Peer, error.ToString());
        _events.RaiseError(StageErrorKind.Frame, $"frame error from {c.Peer}: {error}", c.Id, skipped: skipped ?? !close, logAs: WarningKind.FrameError);
        if (!close)
            return;
        if (c.Session is not null)
        {
            // A session may have written its refusal (ZMTP's ERROR command): send it, then close
            // in order, so the peer reads why instead of a reset.
            _writer.Flush(c);
            c.CloseGracefully = true;
        }
        _lifecycle.Close(c, DisconnectReason.ProtocolError, error.ToString());
    }

    /// <summary>
    /// A decoder broke its contract and threw (one of the application's framings): its state is unknown, so
    /// that connection alone is closed, as for a frame error (reason <c>protocol_error</c>, counted, reported
    /// with the framing and the exception), and the stage goes on.
    /// </summary>
    private void DecoderFailed(Connection c, IFrameDecoder decoder, Exception ex)
    {
        // A session's half-written answer is not sent (nor left for the next connection's output).
        _sessionOutput.ResetWrittenCount();
        if (_events.MayWarn(WarningKind.HandlerFailed))
            Log.HandlerFailed(_events.Logger, _events.Stage, decoder.GetType().Name, ex);
        var detail = $"the decoder of framing '{_framing.Spec}' ({decoder.GetType().Name}) threw {ex.GetType().Name}: {ex.Message}";
        FrameFailed(c, new FrameError(FrameErrorKind.Protocol, detail), close: true);
    }

    /// <summary>Queues what the session wrote ahead of later egress.</summary>
    private void SendSessionOutput(Connection c)
    {
        if (_sessionOutput.WrittenCount == 0)
            return;
        _writer.WriteSessionBytes(c, _sessionOutput.WrittenSpan);
        _sessionOutput.ResetWrittenCount();
    }

    /// <summary>Gives back a connection's partial-frame buffer (decoded everything, or closing).</summary>
    public void ReleasePending(Connection c)
    {
        if (c.Pending is null)
            return;
        ReturnPending(c.Pending);
        c.Pending = null;
        c.PendingStart = c.PendingLength = 0;
    }

    private void CountIn(Connection c, int bytes)
    {
        c.BytesIn += bytes;
        c.LastReceiveMs = _events.Clock.NowMs;
        c.LastActivityUtcTicks = _events.Clock.NowUtcTicks;
        _counters.BytesIn += bytes;
    }
}
