using Ferry.Bus;
using Ferry.Connections;
using Microsoft.Extensions.Logging;

namespace Ferry.Stages.Internal;

/// <summary>
/// Where a stage's lifecycle events go: the .NET events of the stage object, and <c>&lt;stage&gt;/events</c>
/// on the bus. A faulty handler is logged and the stage goes on; it misses the event alone: the other
/// handlers of the .NET event and the other subscribers of the topic still get it.
/// </summary>
internal sealed class EventSink(object owner, string stage, ILogger logger, IMessageBus bus, StageClock clock, CancellationToken stopForced)
{
    private readonly ITopic<StageEvent> _topic = DirectTopic.Of<StageEvent>(bus, StageTopics.Events(stage));
    private LogRateLimiter? _limiter;

    /// <summary>Rate-limits repeated warnings of one kind (a count of those left out is logged).</summary>
    public LogRateLimiter Limiter => _limiter ??= new LogRateLimiter(Clock, (kind, count, windowMs) => Log.Suppressed(Logger, Stage, count, kind, windowMs));

    /// <summary>Whether a warning of <paramref name="kind"/> may be logged now.</summary>
    public bool MayWarn(WarningKind kind) => Logger.IsEnabled(LogLevel.Warning) && Limiter.TryWrite(kind);

    public string Stage { get; } = stage;

    public ILogger Logger { get; } = logger;

    /// <summary>What the handlers are called under: an async void handler's late exception is logged, not fatal.</summary>
    private readonly EventHandlerContext _handlerContext = new(logger, stage);

    public StageClock Clock { get; } = clock;

    public event EventHandler<ListeningEvent>? Listening;
    public event EventHandler<ConnectedEvent>? Connected;
    public event EventHandler<DisconnectedEvent>? Disconnected;
    public event EventHandler<StageErrorEvent>? Error;
    public event EventHandler<ClosedEvent>? Closed;
    public event EventHandler<SocketStats>? StatsPublished;
    public event EventHandler<ConnectingEvent>? Connecting;
    public event EventHandler<ConnectFailedEvent>? ConnectFailed;
    public event EventHandler<GroupMembershipEvent>? JoinedGroup;
    public event EventHandler<GroupMembershipEvent>? LeftGroup;

    public void RaiseListening(ListeningEvent e) => Raise(Listening, e);

    public void RaiseConnected(ConnectedEvent e) => Raise(Connected, e);

    public void RaiseDisconnected(DisconnectedEvent e) => Raise(Disconnected, e);

    public void RaiseClosed(ClosedEvent e) => Raise(Closed, e);

    public void RaiseConnecting(ConnectingEvent e) => Raise(Connecting, e);

    public void RaiseConnectFailed(ConnectFailedEvent e) => Raise(ConnectFailed, e);

    /// <summary>Statistics go to the .NET event only; the stats topic is the counters' to publish.</summary>
    public void RaiseStats(SocketStats stats) => Invoke(StatsPublished, stats);

    /// <param name="kind">What failed.</param>
    /// <param name="message">What happened, for the event and the log.</param>
    /// <param name="connection">The connection concerned, if any.</param>
    /// <param name="skipped">For a frame error: the bytes were dropped and the connection goes on.</param>
    /// <param name="logAs">When set, the caller has logged (or rate-limited) it already under this kind: the event is raised without another log line.</param>
    public void RaiseError(StageErrorKind kind, string message, ConnectionId connection = default, bool skipped = false, WarningKind? logAs = null)
    {
        if (logAs is null)
            Log.StageError(Logger, Stage, kind, message);
        Raise(Error, new StageErrorEvent(Stage, Clock.Time.GetUtcNow(), kind, message, connection, skipped));
    }

    /// <summary>
    /// A server stage gave up binding: an <c>Error</c> event of kind <c>Bind</c>, as any bind failure, logged under its own
    /// event id (<see cref="Log.BindGaveUpId"/>) rather than 1006, so that <c>ferry run</c>, which says it itself, can leave the
    /// entry out by its id.
    /// </summary>
    public void RaiseBindGaveUp(string message)
    {
        Log.BindGaveUp(Logger, Stage, StageErrorKind.Bind, message);
        Raise(Error, new StageErrorEvent(Stage, Clock.Time.GetUtcNow(), StageErrorKind.Bind, message, default, false));
    }

    /// <summary>
    /// A client stage gave up connecting: an <c>Error</c> event of kind <c>Setup</c>, as before, logged under its own event id
    /// (<see cref="Log.ConnectGaveUpId"/>) rather than 1006, for the same reason as <see cref="RaiseBindGaveUp"/>.
    /// </summary>
    public void RaiseConnectGaveUp(string message)
    {
        Log.ConnectGaveUp(Logger, Stage, StageErrorKind.Setup, message);
        Raise(Error, new StageErrorEvent(Stage, Clock.Time.GetUtcNow(), StageErrorKind.Setup, message, default, false));
    }

    /// <summary>
    /// A warning that may repeat many times a second (accepts paused, descriptors running out): logged
    /// and raised only while the kind's rate limit allows; the rest are counted and the count is logged.
    /// </summary>
    public void RaiseWarning(WarningKind warning, StageErrorKind kind, string message, ConnectionId connection = default)
    {
        if (!Limiter.TryWrite(warning))
            return;
        Log.StageError(Logger, Stage, kind, message);
        RaiseError(kind, message, connection, logAs: warning);
    }

    /// <summary>
    /// Reports a publish to one of the stage's topics that subscribers failed (<paramref name="failure"/>, as the
    /// topic threw it): an <c>Error</c> event of kind <c>Handler</c> for each failed subscriber, naming the
    /// topic (<paramref name="topic"/>, e.g. <c>packet_group</c>). A cancellation by a forced stop is no failure.
    /// </summary>
    public void RaiseSubscriberFailures(string topic, Exception failure)
    {
        foreach (var ex in SubscriberFailures.Each(failure))
            if (!IsForcedStop(ex))
                RaiseError(StageErrorKind.Handler, $"a {topic} subscriber failed: {ex.Message}");
    }

    /// <summary>
    /// A group notice: the stage's <c>JoinedGroup</c> / <c>LeftGroup</c> event, always, on the thread that
    /// joined or left; on the bus too when <c>group_notices</c> is on (<paramref name="toBus"/>).
    /// </summary>
    public void PublishNotice(GroupMembershipEvent notice, bool toBus, bool onServiceThread)
    {
        Invoke(notice.Joined ? JoinedGroup : LeftGroup, notice);
        if (!toBus)
            return;
        if (onServiceThread)
        {
            Raise<GroupMembershipEvent>(null, notice);
            return;
        }
        // Off the service thread the bus is published to directly; events keep their own order per publisher.
        // A failed subscriber is logged, as on the service thread: it is not the joining caller's failure.
        Publish(notice, CancellationToken.None);
    }

    private void Raise<T>(EventHandler<T>? handler, T e) where T : StageEvent
    {
        Invoke(handler, e);
        if (_topic.SubscriberCount == 0)
            return;
        Publish(e, stopForced);
    }

    private void Publish<T>(T e, CancellationToken cancellationToken) where T : StageEvent
    {
        try
        {
            var publishing = _topic.PublishAsync(e, cancellationToken);
            if (!publishing.IsCompletedSuccessfully)
                publishing.AsTask().GetAwaiter().GetResult();
        }
        catch (Exception failure)
        {
            // Every subscriber has had the event (the topic isolates them); what failed is logged, not raised
            // as an Error event, which would go to the same subscribers again.
            foreach (var ex in SubscriberFailures.Each(failure))
                if (!IsForcedStop(ex))
                    Log.HandlerFailed(Logger, Stage, typeof(T).Name, ex);
        }
    }

    private bool IsForcedStop(Exception ex) => ex is OperationCanceledException && stopForced.IsCancellationRequested;

    private void Invoke<T>(EventHandler<T>? handler, T e)
    {
        if (handler is null)
            return;
        if (!handler.HasSingleTarget)
        {
            InvokeEach(handler, e);
            return;
        }
        try
        {
            Call(handler, e);
        }
        catch (Exception ex)
        {
            // A faulty handler must not take the stage down; it is reported and the stage goes on.
            Log.HandlerFailed(Logger, Stage, typeof(T).Name, ex);
        }
    }

    /// <summary>A handler that holds the thread this long is reported: the stage serves no connection meanwhile.</summary>
    internal static readonly TimeSpan SlowHandler = TimeSpan.FromMilliseconds(100);

    /// <summary>
    /// Whether slow handlers are reported (the default). The <c>ferry</c> commands switch it off on their stages: every
    /// handler there is Ferry's own, writing its JSON lines, and may block only on stdout, whose reader pacing the stage is
    /// the intended backpressure. The report's advice is for a handler's author, and on a loaded machine the first call's
    /// JIT compilation or a wait for a core alone passes the threshold (an idle <c>ferry serve</c> warned of its listening
    /// handler, and built the console logger for it).
    /// </summary>
    public bool ReportSlowHandlers { get; set; } = true;

    /// <summary>
    /// Calls one handler under the stage's context, and warns (rate-limited) when it held the thread for
    /// <see cref="SlowHandler"/> or more: a handler that blocks (a database call, a Wait()) stalls every connection of the
    /// stage, and nothing else would say why.
    /// </summary>
    private void Call<T>(EventHandler<T> handler, T e)
    {
        var started = Clock.Time.GetTimestamp();
        try
        {
            _handlerContext.Invoke(handler, owner, e);
        }
        finally
        {
            var took = Clock.Time.GetElapsedTime(started);
            if (took >= SlowHandler && ReportSlowHandlers && MayWarn(WarningKind.HandlerSlow))
                Log.HandlerSlow(Logger, Stage, typeof(T).Name, (long)took.TotalMilliseconds);
        }
    }

    /// <summary>
    /// Several handlers: each is called on its own, so one that throws does not hide the event from those
    /// added after it (a multicast call would stop at the first throw). Enumerating allocates nothing.
    /// </summary>
    private void InvokeEach<T>(EventHandler<T> handlers, T e)
    {
        foreach (var handler in Delegate.EnumerateInvocationList(handlers))
        {
            try
            {
                Call(handler, e);
            }
            catch (Exception ex)
            {
                Log.HandlerFailed(Logger, Stage, typeof(T).Name, ex);
            }
        }
    }
}
