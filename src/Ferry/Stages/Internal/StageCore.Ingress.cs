using System.Buffers;
using Ferry.Connections;
using Ferry.Framing;
using Ferry.Transport.Interop;

namespace Ferry.Stages.Internal;

internal abstract partial class StageCore
{
    private readonly int _groupSize;
    private readonly long _lingerTs;
    private readonly PacketGroupPool _pool;
    private PacketGroup? _openGroup;
    private long _openGroupStartTs;
    private long _groupSequence;

    private long _bytesIn;
    private long _packetsIn;
    private long _groupsPublished;
    private long _frameErrors;

    private unsafe void OnReadable(Connection c)
    {
        if (_raw)
        {
            // Raw framing: receive straight into the open group's slab, so the payload is copied
            // once, by the kernel, and never again on the way in.
            var group = OpenGroup();
            var target = group.ReserveForReceive(_readBuffer.Length);
            nint n;
            fixed (byte* p = target)
                n = Libc.recv(c.Fd, p, target.Length, 0);
            if (n <= 0)
            {
                if (group.Count == 0)
                    DiscardEmptyGroup();
                OnReadEnd(c, n);
                return;
            }
            CountIn(c, (int)n);
            group.CommitReceived(c.Id, c.Peer, NowUtcTicks, (int)n);
            PacketAdded(c);
            return;
        }
        ReadFramed(c);
    }

    private unsafe void ReadFramed(Connection c)
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
            buffer = c.Pending;
            start = c.PendingStart;
            count = c.PendingLength;
            var want = _readBuffer.Length;
            if (buffer.Length - start - count < want)
            {
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
                start = c.PendingStart = 0;
            }
        }

        var room = Math.Min(buffer.Length - start - count, _readBuffer.Length);
        nint n;
        fixed (byte* p = buffer)
            n = Libc.recv(c.Fd, p + start + count, room, 0);
        if (n <= 0)
        {
            OnReadEnd(c, n);
            return;
        }
        CountIn(c, (int)n);
        count += (int)n;

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
                    Establish(c);
            }
            switch (status)
            {
                case DecodeStatus.Frame:
                    AddPacket(c, payload, fields);
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

    private void OnReadEnd(Connection c, nint result)
    {
        if (result == 0)
        {
            if (!_raw && c.Pending is not null)
                DecodeEnd(c);
            Close(c, DisconnectReason.RemoteClosed);
            return;
        }
        var errno = Libc.LastError;
        if (errno is Libc.EAGAIN or Libc.EINTR)
            return;
        Close(c, DisconnectReason.Reset, Libc.Describe(errno));
    }

    private void DecodeEnd(Connection c)
    {
        var input = new ReadOnlySequence<byte>(c.Pending!, c.PendingStart, c.PendingLength);
        while (true)
        {
            var status = c.Decoder!.DecodeEnd(ref input, out var payload, out var fields, out var error);
            if (status == DecodeStatus.Frame)
            {
                AddPacket(c, payload, fields);
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
        _frameErrors++;
        Log.FrameError(Logger, Name, c.Id, c.Peer, error.ToString());
        RaiseError(StageErrorKind.Frame, $"frame error from {c.Peer}: {error}", c.Id, skipped: !close);
        if (!close)
            return;
        if (c.Session is not null)
        {
            // A session may have written its refusal (ZMTP's ERROR command): send it, then close
            // in order, so the peer reads why instead of a reset.
            Flush(c);
            c.CloseGracefully = true;
        }
        Close(c, DisconnectReason.ProtocolError, error.ToString());
    }

    private void ReleasePending(Connection c)
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
        c.LastReceiveTick = NowMs;
        c.LastActivityUtcTicks = NowUtcTicks;
        _bytesIn += bytes;
    }

    private void AddPacket(Connection c, ReadOnlySpan<byte> payload, in FrameFields fields)
    {
        OpenGroup().Add(c.Id, c.Peer, NowUtcTicks, fields, payload);
        PacketAdded(c);
    }

    private void AddPacket(Connection c, in ReadOnlySequence<byte> payload, in FrameFields fields)
    {
        OpenGroup().Add(c.Id, c.Peer, NowUtcTicks, fields, payload);
        PacketAdded(c);
    }

    private PacketGroup OpenGroup()
    {
        if (_openGroup is null)
        {
            _openGroup = _pool.Rent(++_groupSequence);
            _openGroupStartTs = NowTs;
        }
        return _openGroup;
    }

    /// <summary>An opened group that got no packet (the receive found nothing) goes back unpublished.</summary>
    private void DiscardEmptyGroup()
    {
        var group = _openGroup!;
        _openGroup = null;
        _groupSequence--;
        group.Release();
    }

    private void PacketAdded(Connection c)
    {
        c.PacketsIn++;
        _packetsIn++;
        if (_openGroup!.IsFull)
            PublishGroup();
    }

    private void PublishGroup()
    {
        var group = _openGroup!;
        _openGroup = null;
        _groupsPublished++;
        try
        {
            var publishing = _groupsTopic.PublishAsync(group, _stopForced.Token);
            // A full subscriber queue blocks the service thread: no socket is read until it has
            // room, so clients' TCP windows close. That is the backpressure, by design.
            if (!publishing.IsCompletedSuccessfully)
                publishing.AsTask().GetAwaiter().GetResult();
        }
        catch (OperationCanceledException) when (_stopForced.IsCancellationRequested)
        {
        }
        catch (Exception ex)
        {
            RaiseError(StageErrorKind.Handler, $"a packet_group subscriber failed: {ex.Message}");
        }
        finally
        {
            group.Release();
        }
    }
}
