using Ferry.Connections;

namespace Ferry.Stages.Internal;

/// <summary>
/// Closes connections that outstay a deadline: nothing received within <c>idle_timeout</c>, a frame
/// not completed within <c>frame_timeout</c> of its first byte (under TLS also a record not completed, whose
/// plaintext the framing has not seen), a session handshake not done within
/// the framing's handshake timeout, a TLS handshake not done within <c>tls.handshake_timeout</c>, or a
/// trusted proxy's PROXY header not in within <c>proxy_header_timeout</c>; and ends the <c>half_close_linger</c> of
/// connections whose peer has finished sending.
/// Scans every connection a few
/// times per shortest deadline instead of keeping a timer per connection. Service thread.
/// </summary>
internal sealed class TimeoutScanner
{
    private readonly long _idleMs;
    private readonly long _frameMs;
    private readonly long _handshakeMs;
    private readonly long _tlsMs;
    private readonly long _proxyMs;
    private readonly long _lingerMs;
    private readonly long _intervalMs;
    private readonly ConnectionTable _table;
    private readonly IConnectionLifecycle _lifecycle;
    private readonly StageClock _clock;
    private long _nextMs = long.MaxValue;

    public TimeoutScanner(TimeSpan idle, TimeSpan frame, TimeSpan? handshake, TimeSpan? tlsHandshake, TimeSpan? proxyHeader, TimeSpan halfCloseLinger, ConnectionTable table, IConnectionLifecycle lifecycle, StageClock clock)
    {
        // Options are validated to 0 or at least 1 ms, so none of these rounds down to "never".
        _idleMs = (long)idle.TotalMilliseconds;
        _frameMs = (long)frame.TotalMilliseconds;
        _handshakeMs = handshake is { } h ? Math.Max(1, (long)h.TotalMilliseconds) : 0;
        _tlsMs = tlsHandshake is { } t ? Math.Max(1, (long)t.TotalMilliseconds) : 0;
        _proxyMs = proxyHeader is { } p ? Math.Max(1, (long)p.TotalMilliseconds) : 0;
        _lingerMs = (long)halfCloseLinger.TotalMilliseconds;
        var shortest = long.MaxValue;
        foreach (var deadline in (ReadOnlySpan<long>)[_idleMs, _frameMs, _handshakeMs, _tlsMs, _proxyMs, _lingerMs])
            if (deadline > 0)
                shortest = Math.Min(shortest, deadline);
        _intervalMs = Math.Clamp(shortest / 8, 5, 1000);
        _table = table;
        _lifecycle = lifecycle;
        _clock = clock;
    }

    private bool Enabled => _idleMs > 0 || _frameMs > 0 || _handshakeMs > 0 || _tlsMs > 0 || _proxyMs > 0 || _lingerMs > 0;

    /// <summary>When the next scan is due (long.MaxValue when there are no deadlines).</summary>
    public long NextDueMs => _nextMs;

    public void Start()
    {
        if (Enabled)
            _nextMs = _clock.NowMs + _intervalMs;
    }

    public void OnTimer()
    {
        if (_clock.NowMs < _nextMs)
            return;
        _nextMs = _clock.NowMs + _intervalMs;
        var now = _clock.NowMs;
        var list = _table.ListLocked;
        // Backwards, because closing swaps the last connection into the closed one's place.
        for (var i = list.Length - 1; i >= 0; i--)
        {
            list = _table.ListLocked;
            if (i >= list.Length)
                continue;
            var c = list[i];
            // A client that finished sending waits for answers (half_close_linger): the linger is its only
            // deadline, since it will never send again. Once it is over, the connection closes when what is
            // queued for it is written: now when nothing is, else by the flush that writes the last byte.
            if (c.LingerUntilMs != 0)
            {
                if (now >= c.LingerUntilMs)
                {
                    c.LingerUntilMs = 0;
                    bool empty;
                    lock (c.EgressLock)
                        empty = c.Egress.IsEmpty;
                    if (empty)
                        _lifecycle.Close(c, DisconnectReason.RemoteClosed, $"the peer had finished sending; half_close_linger ({_lingerMs} ms) is over");
                }
                continue;
            }
            // A connection the stage does not read (its handler has not caught up, or the wait policy holds
            // it for a full receiver) is silent because of the stage, not the peer.
            if (c.InboxFull || c.ReadPaused)
                continue;
            // The PROXY header comes first (before TLS), so its deadline is checked first.
            if (c.ProxyHeader == ProxyHeaderState.Expected && _proxyMs > 0 && now - c.OpenedAtMs >= _proxyMs)
                _lifecycle.Close(c, DisconnectReason.ProxyHeaderTimeout, $"no complete PROXY header from trusted proxy {c.Peer} within {_proxyMs} ms (proxy_header_timeout)");
            else if (c.HandshakePending && _tlsMs > 0 && now - c.OpenedAtMs >= _tlsMs)
                _lifecycle.Close(c, DisconnectReason.TlsHandshakeTimeout, $"tls handshake not completed within {_tlsMs} ms");
            else if (_idleMs > 0 && now - c.LastReceiveMs >= _idleMs)
                _lifecycle.Close(c, DisconnectReason.IdleTimeout, $"nothing received for {_idleMs} ms");
            else if (_frameMs > 0 && c.Pending is not null && c.ProxyHeader != ProxyHeaderState.Expected && now - c.PartialSinceMs >= _frameMs)
                _lifecycle.Close(c, DisconnectReason.FrameTimeout, $"a frame begun {now - c.PartialSinceMs} ms ago is still incomplete after {c.PendingLength} bytes (frame_timeout {_frameMs} ms)");
            else if (_frameMs > 0 && c.SkippingFrame && now - c.PartialSinceMs >= _frameMs)
                _lifecycle.Close(c, DisconnectReason.FrameTimeout, $"a bad frame being skipped since {now - c.PartialSinceMs} ms ago is still incomplete (frame_timeout {_frameMs} ms)");
            else if (_frameMs > 0 && RecordWaitedMs(c, now) >= _frameMs)
                _lifecycle.Close(c, DisconnectReason.FrameTimeout, $"a TLS record begun {RecordWaitedMs(c, now)} ms ago is still incomplete, no plaintext from it yet (frame_timeout {_frameMs} ms)");
            else if (!c.Established && _handshakeMs > 0 && now - c.OpenedAtMs >= _handshakeMs)
                _lifecycle.Close(c, DisconnectReason.ProtocolError, $"handshake not completed within {_handshakeMs} ms");
        }
    }

    /// <summary>
    /// How long an unfinished TLS record the transport holds has kept its plaintext from the framing (0: none):
    /// the start of a frame the stage cannot see. Counted from its first byte, or from the last plaintext or
    /// resumed read if later (a pause of reads is the stage's, not the peer's). The handshake has its own deadline.
    /// </summary>
    private long RecordWaitedMs(Connection c, long now)
        => !c.HandshakePending && c.Io.HoldsPartialRecord(out var since) ? now - Math.Max(_clock.ToMsCeiling(since), c.LastReceiveMs) : 0;
}
