using System.Buffers;
using System.Net;
using Ferry.Connections;
using Ferry.Transport.Interop;

namespace Ferry.Stages.Internal;

internal abstract partial class StageCore
{
    private long _acceptedTotal;
    private long _rejectedTotal;
    private long _closedTotal;

    /// <summary>Takes ownership of a connected, non-blocking socket and starts reading it.</summary>
    protected Connection? AddConnection(int fd, IPEndPoint peer, IPEndPoint local)
    {
        var generation = ++_generation & 0x7FFF_FFFFu;
        if (generation == 0)
            generation = _generation = 1;
        var connection = new Connection(fd, generation, ConnectionId.Next(), peer, local,
            _raw || _sessionFraming is not null ? null : _framing.CreateDecoder(), NowMs) { LastActivityUtcTicks = NowUtcTicks };
        var rc = Reactor.Add(fd, Libc.EPOLLIN | Libc.EPOLLRDHUP, TokenOf(connection));
        if (rc != 0)
        {
            Libc.close(fd);
            RaiseError(StageErrorKind.Accept, $"could not watch connection from {peer}: {Libc.Describe(rc)}");
            return null;
        }
        if (fd >= _byFd.Length)
            Array.Resize(ref _byFd, Math.Max(_byFd.Length * 2, fd + 1));
        _byFd[fd] = connection;
        lock (_listLock)
        {
            if (_count == _list.Length)
                Array.Resize(ref _list, _list.Length * 2);
            connection.Index = _count;
            _list[_count] = connection;
            Volatile.Write(ref _count, _count + 1);
        }
        _byId[connection.Id] = connection;
        _acceptedTotal++;
        if (_sessionFraming is null)
        {
            Establish(connection);
        }
        else
        {
            // The session speaks first (a greeting); the connection is announced once its handshake is done.
            var session = _sessionFraming.CreateSession(_sessionOutput);
            connection.Session = session;
            connection.Decoder = session;
            session.Start();
            SendSessionOutput(connection);
        }
        return connection;
    }

    /// <summary>Opens a connection to messages: egress may be routed to it, held broadcasts are delivered, and it is announced.</summary>
    private void Establish(Connection connection)
    {
        // Under the list lock, so a router that found no established connection and held its message
        // cannot miss this one.
        lock (_listLock)
        {
            connection.Established = true;
            _establishedCount++;
            DeliverHeld(connection);
        }
        Log.Connected(Logger, Name, connection.Id, connection.Peer);
        RaiseAndPublish(Connected, new ConnectedEvent(Name, new DateTimeOffset(NowUtcTicks, TimeSpan.Zero), connection.Id, connection.Peer, connection.Local));
        OnConnectionEstablished(connection);
    }

    /// <summary>Queues what a session wrote (greeting, handshake reply, PONG) ahead of later egress. Service thread.</summary>
    private void SendSessionOutput(Connection c)
    {
        if (_sessionOutput.WrittenCount == 0)
            return;
        bool schedule;
        lock (c.EgressLock)
        {
            schedule = !c.Closed && !c.FlushScheduled;
            if (!c.Closed)
            {
                // Protocol bytes are small and bounded by the session; they are not held to the egress limit.
                c.Egress.Write(_sessionOutput.WrittenSpan);
                c.FlushScheduled = true;
            }
        }
        _sessionOutput.ResetWrittenCount();
        if (schedule)
            _dirty.Add(c);
    }

    /// <summary>Counts and reports a connection refused over the limit; the caller has closed it.</summary>
    protected void ReportRejected(IPEndPoint peer, string detail)
    {
        _acceptedTotal++;
        _rejectedTotal++;
        var id = ConnectionId.Next();
        Log.Rejected(Logger, Name, id, peer, detail);
        RaiseAndPublish(Disconnected, new DisconnectedEvent(Name, new DateTimeOffset(NowUtcTicks, TimeSpan.Zero), id, peer, DisconnectReason.Limit, detail));
    }

    private static long TokenOf(Connection c) => ((long)c.Generation << TokenGenerationShift) | (uint)c.Fd;

    private void OnConnectionEvent(long token, uint events)
    {
        var fd = (int)(token & 0xFFFF_FFFF);
        var c = fd < _byFd.Length ? _byFd[fd] : null;
        if (c is null || c.Generation != (uint)(token >> TokenGenerationShift))
            return; // closed earlier in this round
        if ((events & (Libc.EPOLLIN | Libc.EPOLLERR | Libc.EPOLLHUP | Libc.EPOLLRDHUP)) != 0)
            OnReadable(c);
        if ((events & Libc.EPOLLOUT) != 0 && _byFd[fd] == c)
            Flush(c);
    }

    /// <summary>Closes a connection now. Service thread only; other threads request a close.</summary>
    protected void Close(Connection c, DisconnectReason reason, string? detail = null, string? code = null)
    {
        if (c.Fd >= _byFd.Length || _byFd[c.Fd] != c)
            return;
        Reactor.Remove(c.Fd);
        _byFd[c.Fd] = null;
        TaskCompletionSource? waiter;
        lock (c.EgressLock)
        {
            c.Closed = true;
            c.Egress.Release();
            waiter = c.SpaceWaiter;
            c.SpaceWaiter = null;
        }
        waiter?.TrySetResult();
        if ((reason is DisconnectReason.Reset or DisconnectReason.ProtocolError or DisconnectReason.SlowConsumer) && !c.CloseGracefully)
            Transport.SocketConfigurator.SetAbortiveClose(c.Fd);
        Libc.close(c.Fd);
        lock (_listLock)
        {
            var last = _list[_count - 1];
            _list[c.Index] = last;
            last.Index = c.Index;
            _list[_count - 1] = null!;
            Volatile.Write(ref _count, _count - 1);
            if (c.Established)
                _establishedCount--;
        }
        _byId.TryRemove(c.Id, out _);
        LeaveAllGroups(c);
        ReleasePending(c);
        _closedTotal++;
        _bytesOutClosed += c.BytesOut;
        Log.Disconnected(Logger, Name, c.Id, c.Peer, reason.ToName(), detail);
        RaiseAndPublish(Disconnected, new DisconnectedEvent(Name, new DateTimeOffset(NowUtcTicks, TimeSpan.Zero), c.Id, c.Peer, reason, detail, code));
        OnConnectionClosed(c);
    }

    /// <summary>Asks the service thread to close a connection; safe from any thread, including handlers running on it.</summary>
    internal bool RequestClose(ConnectionId id, DisconnectReason reason, string? detail = null, string? code = null)
    {
        if (!_byId.TryGetValue(id, out var c))
            return false;
        RequestClose(c, new CloseRequest(reason, detail, code));
        return true;
    }

    private void RequestClose(Connection c, CloseRequest request)
    {
        _closeRequests.Enqueue((c, request));
        if (!OnServiceThread)
            Reactor.Wake();
    }

    /// <summary>A connection became ready for messages (at once, or after its session's handshake).</summary>
    protected virtual void OnConnectionEstablished(Connection c) { }

    protected virtual void OnConnectionClosed(Connection c) { }

    private void ScanConnectionTimeouts()
    {
        // Backwards, because closing swaps the last connection into the closed one's place.
        for (var i = _count - 1; i >= 0; i--)
        {
            if (i >= _count)
                continue;
            var c = _list[i];
            if (_idleTimeoutMs > 0 && NowMs - c.LastReceiveTick >= _idleTimeoutMs)
                Close(c, DisconnectReason.IdleTimeout, $"nothing received for {_idleTimeoutMs} ms");
            else if (!c.Established && _handshakeTimeoutMs > 0 && NowMs - c.OpenedAtMs >= _handshakeTimeoutMs)
                Close(c, DisconnectReason.ProtocolError, $"handshake not completed within {_handshakeTimeoutMs} ms");
        }
    }

    private void CloseAll(DisconnectReason reason)
    {
        while (_count > 0)
            Close(_list[_count - 1], reason);
    }

    internal bool TryGetConnection(ConnectionId id, out Connection connection) => _byId.TryGetValue(id, out connection!);

    /// <summary>The connection registry as of now.</summary>
    internal IReadOnlyList<ConnectionInfo> GetConnections()
    {
        var connections = SnapshotConnections();
        var rows = new ConnectionInfo[connections.Length];
        for (var i = 0; i < connections.Length; i++)
        {
            var c = connections[i];
            int queued;
            long bytesOut, packetsOut, droppedBytes, droppedPackets;
            lock (c.EgressLock)
            {
                queued = c.Egress.Length;
                bytesOut = c.BytesOut;
                packetsOut = c.PacketsOut;
                droppedBytes = c.EgressBytesDropped;
                droppedPackets = c.EgressPacketsDropped;
            }
            rows[i] = new ConnectionInfo(c.Id, c.Peer, new DateTimeOffset(c.ConnectedAtUtcTicks, TimeSpan.Zero),
                new DateTimeOffset(Volatile.Read(ref c.LastActivityUtcTicks), TimeSpan.Zero), Volatile.Read(ref c.BytesIn),
                Volatile.Read(ref c.PacketsIn), bytesOut, packetsOut, queued, droppedBytes, droppedPackets, GetGroupsOf(c.Id));
        }
        return rows;
    }

    /// <summary>A snapshot of the live connections (safe from any thread).</summary>
    internal Connection[] SnapshotConnections()
    {
        lock (_listLock)
            return _list.AsSpan(0, _count).ToArray();
    }
}
