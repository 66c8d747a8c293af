using System.Buffers;
using Ferry.Connections;
using Ferry.Framing;
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
    private readonly byte[] _readBuffer;
    private readonly int _maxBuffered;
    private readonly IFraming _framing;
    private readonly bool _raw;
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
        // Decoders never keep more than a frame and its overhead unconsumed; this is the backstop
        // should one do so. With the next read on top, that is the most a connection can hold.
        _maxBuffered = (int)Math.Min((long)_framing.MaxFrameBytes + _framing.FrameOverheadBytes, Array.MaxLength);
        _grouper = grouper;
        _writer = writer;
        _lifecycle = lifecycle;
        _counters = counters;
        _events = events;
    }

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
        if (_raw)
            ReadRaw(c);
        else
            ReadFramed(c);
    }

    private void ReadRaw(Connection c)
    {
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
            (buffer, start, count) = MakeRoom(c);
        }

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
        if (!DecodeAll(c, ref input))
            return;
        var left = (int)input.Length;
        if (left == 0)
        {
            ReleasePending(c);
            return;
        }
        if (left > _maxBuffered)
        {
            FrameFailed(c, new FrameError(FrameErrorKind.Oversize, $"{left} bytes buffered without a complete frame (max_frame_bytes {_framing.MaxFrameBytes})"), close: true);
            return;
        }
        var consumed = count - left;
        if (buffer == _readBuffer)
        {
            // Keep only the unfinished frame; idle connections hold no buffer at all.
            var pending = ArrayPool<byte>.Shared.Rent(Math.Max(left * 2, 4096));
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

    /// <summary>Makes room for one more read behind a kept partial frame: moves it to the front or into a bigger buffer.</summary>
    private (byte[] Buffer, int Start, int Count) MakeRoom(Connection c)
    {
        var buffer = c.Pending!;
        var start = c.PendingStart;
        var count = c.PendingLength;
        var want = _readBuffer.Length;
        if (buffer.Length - start - count >= want)
            return (buffer, start, count);
        if (buffer.Length - count >= want)
        {
            buffer.AsSpan(start, count).CopyTo(buffer);
        }
        else
        {
            var bigger = ArrayPool<byte>.Shared.Rent(Math.Max(buffer.Length * 2, count + want));
            buffer.AsSpan(start, count).CopyTo(bigger);
            ArrayPool<byte>.Shared.Return(buffer);
            buffer = c.Pending = bigger;
        }
        c.PendingStart = 0;
        return (buffer, 0, count);
    }

    /// <summary>Decodes every whole frame in <paramref name="input"/>; false when the connection was closed.</summary>
    private bool DecodeAll(Connection c, ref ReadOnlySequence<byte> input)
    {
        var decoder = c.Decoder!;
        while (true)
        {
            var status = decoder.Decode(ref input, out var payload, out var fields, out var error);
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
                    break;
                case DecodeStatus.Skipped:
                    FrameFailed(c, error, close: false);
                    break;
                case DecodeStatus.Error:
                    FrameFailed(c, error, close: true);
                    return false;
                default:
                    return true;
            }
        }
    }

    private void OnReadEnd(Connection c, int result, int error)
    {
        if (result == 0)
        {
            if (!_raw && c.Pending is not null)
                DecodeEnd(c);
            _lifecycle.Close(c, DisconnectReason.RemoteClosed);
            return;
        }
        if (error == 0)
            return; // nothing to read after all
        var reason = error == IConnectionIo.HandshakeFailedError ? DisconnectReason.TlsError : DisconnectReason.Reset;
        _lifecycle.Close(c, reason, c.Io.DescribeError(error));
    }

    /// <summary>The peer closed: the framing decides what the bytes left over are.</summary>
    private void DecodeEnd(Connection c)
    {
        var input = new ReadOnlySequence<byte>(c.Pending!, c.PendingStart, c.PendingLength);
        while (true)
        {
            var status = c.Decoder!.DecodeEnd(ref input, out var payload, out var fields, out var error);
            if (status == DecodeStatus.Frame)
            {
                _grouper.Add(c, payload, fields);
                continue;
            }
            if (status is DecodeStatus.Error or DecodeStatus.Skipped)
                FrameFailed(c, error, close: false);
            if (status != DecodeStatus.Skipped)
                return;
        }
    }

    private void FrameFailed(Connection c, in FrameError error, bool close)
    {
        _counters.FrameErrors++;
        Log.FrameError(_events.Logger, _events.Stage, c.Id, c.Peer, error.ToString());
        _events.RaiseError(StageErrorKind.Frame, $"frame error from {c.Peer}: {error}", c.Id, skipped: !close);
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
        ArrayPool<byte>.Shared.Return(c.Pending);
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
