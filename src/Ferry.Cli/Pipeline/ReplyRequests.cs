using Ferry.Bus;
using Ferry.Connections;
using Ferry.Framing;
using Ferry.Stages;
using Ferry.Stages.Internal;

namespace Ferry.Cli.Pipeline;

/// <summary>
/// The request half of a <c>target: reply</c> pair: each packet of the server stage goes to the upstream client stage's
/// current connection, and its sender is recorded in the book only when the upstream stage took it. While the upstream is
/// not connected, or its egress is full under <c>drop</c>, the request is not sent (it could never be answered in order)
/// and counted.
/// </summary>
/// <remarks>
/// Under <c>egress_overflow: wait</c> a request that cannot go on at once (the upstream's egress buffer is full, or the book
/// has <see cref="ReplyBook.Capacity"/> requests in flight on its connection) is not waited for on the server stage's
/// service thread: it is copied and queued, the connections whose packets are being published stop being read, and a
/// task off that thread sends the queued requests in order, each waiting for room within <c>egress_wait_timeout</c> on the
/// upstream stage's clock. Later requests queue behind (each one's connection paused in turn), so the order sent is the
/// order read; once the queue is empty the paused connections are read again. Waiting on the service thread, as before,
/// froze the whole server stage: no accept, no answer written to any client, no stats, no timer.
/// </remarks>
internal sealed class ReplyRequests : IDisposable
{
    private readonly RouteDefinition _route;
    private readonly TcpServerStage _front;
    private readonly TcpClientStage _upstream;
    private readonly ReplyBook _book;
    private readonly IDisposable _subscription;
    private readonly CancellationTokenSource _disposed = new();
    // Ends a queued request's wait for room: the run is stopping (the book closed), or the route is gone.
    private readonly CancellationTokenSource _stopping;
    private readonly Lock _gate = new();
    // Requests read while earlier ones wait for room, in the order read; the pump sends them.
    private readonly Queue<Deferred> _deferred = new();
    private bool _pumping;
    // The server stage's connections not read while requests wait. Its service thread only.
    private List<Connection>? _paused;

    private readonly record struct Deferred(ConnectionId Requester, byte[] Payload, FrameFields Fields);

    public ReplyRequests(IMessageBus bus, RouteDefinition route, TcpServerStage front, TcpClientStage upstream, ReplyBook book)
    {
        _route = route;
        _front = front;
        _upstream = upstream;
        _book = book;
        _stopping = CancellationTokenSource.CreateLinkedTokenSource(_disposed.Token, book.Closing);
        upstream.Disconnected += Ended;
        upstream.Error += AnswerSkipped;
        // A client that finished sending lingers (half_close_linger) only while it is owed an answer, by this pair or by
        // another reply pair on the same server stage (each of its requests can go to two upstreams, each answering).
        var owedElsewhere = front.Core.Writer.LingerWanted;
        front.Core.Writer.LingerWanted = owedElsewhere is null ? book.Owed.Owes : client => book.Owed.Owes(client) || owedElsewhere(client);
        _subscription = DirectTopic.Of<PacketGroup>(bus, StageTopics.PacketGroup(route.From)).Subscribe(OnGroup);
    }

    /// <summary>Requests read and queued behind one waiting for room (under <c>wait</c>), not yet being sent.</summary>
    public int Queued
    {
        get
        {
            lock (_gate)
                return _deferred.Count;
        }
    }

    /// <summary>Whether queued requests are being sent (the server stage's connections that published them are not read meanwhile).</summary>
    public bool Pumping
    {
        get
        {
            lock (_gate)
                return _pumping;
        }
    }

    private bool Waits => _upstream.Options.EgressOverflow == EgressOverflowPolicy.Wait;

    private void Ended(object? sender, DisconnectedEvent e)
    {
        var forgotten = _book.Forget(e.ConnectionId);
        var why = e.Reason == DisconnectReason.ProtocolError
            ? $"'{_route.To}' closed its connection for an answer it could not decode ({e.Detail}) with requests in flight; " +
              "a framing that finds the next answer after a bad one (a delimiter, lines, a length prefix) does so with on_error=skip: only that answer is lost"
            : $"'{_route.To}' lost its connection ({e.ReasonName}) with requests in flight";
        // Counted before the clients are settled: whoever sees a client closed for it finds the loss counted.
        _book.Loss.Unanswer(forgotten.Count, why);
        foreach (var client in forgotten)
            SettleOne(client);
    }

    /// <summary>
    /// An answer the upstream stage's framing skipped (<c>on_error=skip</c>: over <c>max_frame_bytes</c>, or malformed): it is the
    /// answer to the oldest request on its connection, which gets none (reported), so the answers after it go to their own
    /// clients. On the upstream stage's thread, where its answers before it were published (FrameReader publishes the open
    /// group before it reports a skipped frame), and before any after it.
    /// </summary>
    private void AnswerSkipped(object? sender, StageErrorEvent e)
    {
        if (e.Kind != StageErrorKind.Frame || !e.Skipped || !_book.TryTake(e.ConnectionId, out var requester))
            return;
        _book.Delivered();
        SettleOne(requester);
        _book.Loss.Undelivered($"an answer from '{_route.To}' could not be decoded and was skipped ({e.Message}); its request gets no answer, the answers after it go to their own clients");
    }

    /// <summary>On the server stage's service thread: never waits.</summary>
    private ValueTask OnGroup(PacketGroup group, CancellationToken ct)
    {
        foreach (var packet in group)
        {
            _book.Owed.Asked(packet.ConnectionId);
            bool queued;
            lock (_gate)
                queued = _pumping;
            // Once the run is stopping nothing is queued any more: given up at once (TrySendNow counts it), not after the stop.
            if ((!queued || _book.Closed) && TrySendNow(packet.ConnectionId, packet.Payload, packet.Fields))
                continue;
            Defer(new Deferred(packet.ConnectionId, packet.Payload.ToArray(), packet.Fields));
        }
        return default;
    }

    /// <summary>Sends, or gives up on, a request at once; false when it must wait for room (under <c>wait</c>): nothing was done.</summary>
    private bool TrySendNow(ConnectionId requester, ReadOnlyMemory<byte> payload, in FrameFields fields)
    {
        if (_book.Closed)
            return Lost(requester, "the run is stopping; the request was not sent");
        var connection = _upstream.ConnectionId;
        if (connection == default)
            return Lost(requester, $"'{_route.To}' is not connected; the request was not sent");
        if (!_book.TryReserve(connection, requester))
            return Waits ? false : Lost(requester, $"{_book.Capacity} requests already wait for an answer on '{_route.To}'; the request was not sent");
        var result = EnqueueResult.Closed;
        var ours = true;
        var message = EgressMessage.To(connection, payload, fields);
        try
        {
            // Under wait, without waiting (Full: no room now); a connection gone or closing counts in back's
            // egress_unknown_target, as the route's send counts it under drop.
            result = Waits ? _upstream.Core.Router.EnqueueNow(message) : Taken(_upstream.Core.Router.RouteAsync(message, CancellationToken.None));
        }
        catch (FramingException ex)
        {
            _upstream.Core.Events.RaiseError(StageErrorKind.Egress, ex.Message, connection);
        }
        finally
        {
            if (result == EnqueueResult.Queued)
                _book.Commit();
            else
                ours = _book.Cancel();
        }
        // Its connection ended meanwhile: given up (settled and counted) with that connection's requests, not to be sent again.
        if (!ours)
            return true;
        if (result == EnqueueResult.Full)
            return false;
        if (result != EnqueueResult.Queued)
            NotTaken(requester);
        return true;
    }

    /// <summary>A route under <c>drop</c> or <c>disconnect</c> never waits: its send is complete when it returns.</summary>
    private static EnqueueResult Taken(ValueTask<int> routing) => routing.GetAwaiter().GetResult() == 1 ? EnqueueResult.Queued : EnqueueResult.Dropped;

    private bool Lost(ConnectionId requester, string why)
    {
        _book.Loss.Unanswer(1, why);
        SettleOne(requester);
        return true;
    }

    private void NotTaken(ConnectionId requester)
        => Lost(requester, $"'{_route.To}' did not take the request (its egress is full, or its connection ended)");

    /// <summary>Queues a request behind those waiting for room and stops reading the connections being published. Service thread.</summary>
    private void Defer(Deferred request)
    {
        bool start;
        _book.Queued();
        lock (_gate)
        {
            _deferred.Enqueue(request);
            start = !_pumping;
            _pumping = true;
        }
        _front.Core.Writer.HoldPublishingSources(ref _paused);
        if (start)
            _ = Task.Run(PumpAsync);
    }

    /// <summary>
    /// Sends the queued requests in order. Each one is settled, sent or counted lost, whatever ends its wait (a stop gives the
    /// rest up one by one): on the old code a stop that cancelled a wait left that request and every one behind it unsettled
    /// and uncounted.
    /// </summary>
    private async Task PumpAsync()
    {
        while (true)
        {
            Deferred next;
            lock (_gate)
            {
                if (!_deferred.TryDequeue(out next))
                {
                    _pumping = false;
                    break;
                }
            }
            try
            {
                await SendWaitingAsync(next).ConfigureAwait(false);
            }
            finally
            {
                _book.Unqueued();
            }
        }
        if (!_disposed.IsCancellationRequested)
            _front.Core.Post(Resume);
    }

    /// <summary>Reads the paused connections again, unless requests wait again meanwhile (their pump resumes them). Service thread.</summary>
    private void Resume()
    {
        lock (_gate)
            if (_pumping)
                return;
        var paused = _paused;
        _paused = null;
        _front.Core.Writer.ReleaseSources(paused);
    }

    /// <summary>A queued request, sent waiting for room (off the service thread).</summary>
    private async Task SendWaitingAsync(Deferred request)
    {
        var connection = await ReserveAsync(request.Requester).ConfigureAwait(false);
        if (connection == default)
            return;
        var taken = 0;
        var ours = true;
        var stopped = false;
        try
        {
            taken = await _upstream.Core.Router.RouteAsync(EgressMessage.To(connection, request.Payload, request.Fields), _stopping.Token).ConfigureAwait(false);
        }
        catch (FramingException ex)
        {
            _upstream.Core.Events.RaiseError(StageErrorKind.Egress, ex.Message, connection);
        }
        catch (OperationCanceledException) when (_stopping.IsCancellationRequested)
        {
            stopped = true; // still waiting for room in the upstream's egress: not sent
        }
        finally
        {
            if (taken == 1)
                _book.Commit();
            else
                ours = _book.Cancel();
        }
        if (taken != 1 && ours && stopped)
            Lost(request.Requester, "the run is stopping; the request was not sent");
        else if (taken != 1 && ours)
            NotTaken(request.Requester);
    }

    /// <summary>
    /// The upstream connection a queued request is to go out on, its answer reserved in the book; <c>default</c> when it is
    /// not to be sent (the loss counted and reported). Past the book's capacity on that connection, under <c>wait</c>, it
    /// waits for room within <c>egress_wait_timeout</c>, timed on the upstream stage's clock (its TimeProvider, as its
    /// egress waits are): a Stopwatch ignored a test's fake clock, and the wait could not be tested without real waiting.
    /// </summary>
    private async ValueTask<ConnectionId> ReserveAsync(ConnectionId requester)
    {
        var time = _upstream.Core.Clock.Time;
        long? waitSince = null;
        while (true)
        {
            if (_book.Closed || _stopping.IsCancellationRequested)
            {
                Lost(requester, "the run is stopping; the request was not sent");
                return default;
            }
            var connection = _upstream.ConnectionId;
            if (connection == default)
            {
                Lost(requester, $"'{_route.To}' is not connected; the request was not sent");
                return default;
            }
            if (_book.TryReserve(connection, requester))
                return connection;
            var full = $"{_book.Capacity} requests already wait for an answer on '{_route.To}'";
            if (!Waits)
            {
                Lost(requester, $"{full}; the request was not sent");
                return default;
            }
            waitSince ??= time.GetTimestamp();
            var left = _upstream.Options.EgressWaitTimeout - time.GetElapsedTime(waitSince.Value);
            try
            {
                if (left <= TimeSpan.Zero)
                    throw new TimeoutException();
                await _book.WhenRoomAsync(connection).WaitAsync(left, time, _stopping.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (_stopping.IsCancellationRequested)
            {
                // Given up at the top of the loop.
            }
            catch (TimeoutException)
            {
                Lost(requester, $"{full} for egress_wait_timeout ({(long)_upstream.Options.EgressWaitTimeout.TotalMilliseconds} ms); the request was not sent");
                return default;
            }
        }
    }

    /// <summary>One request of <paramref name="client"/> is settled: a half-closed client owed nothing more is closed.</summary>
    private void SettleOne(ConnectionId client) => SettleOne(_front, _book, client);

    /// <summary>
    /// One request of <paramref name="client"/> is settled (its answer handed to <paramref name="front"/>, or lost). When it is
    /// owed nothing more and has finished sending, its linger ends on front's thread: it closes once its answers are written.
    /// </summary>
    public static void SettleOne(TcpServerStage front, ReplyBook book, ConnectionId client)
    {
        // Read after the count is settled: front marks the peer finished before it asks whether anything is owed, so one of
        // the two sees the other (the count's lock orders them).
        if (!book.Owed.Settled(client) || !front.Core.Table.TryGet(client, out var c) || !Volatile.Read(ref c.PeerFinished))
            return;
        var core = front.Core;
        core.Post(() =>
        {
            var owed = core.Writer.LingerWanted ?? book.Owed.Owes; // every reply pair of the stage, not only this one
            if (!owed(client) && core.Table.TryGet(client, out var now))
                core.Writer.EndLinger(now);
        });
    }

    public void Dispose()
    {
        _subscription.Dispose();
        _upstream.Disconnected -= Ended;
        _upstream.Error -= AnswerSkipped;
        _front.Core.Writer.LingerWanted = null;
        _disposed.Cancel(); // not disposed: a pump still running reads its token
    }
}
