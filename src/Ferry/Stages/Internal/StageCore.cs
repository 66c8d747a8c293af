using System.Collections.Concurrent;
using System.Diagnostics;
using Ferry.Bus;
using Ferry.Connections;
using Ferry.Framing;
using Ferry.Transport;
using Microsoft.Extensions.Logging;

namespace Ferry.Stages.Internal;

/// <summary>
/// The service loop of a stage: one dedicated thread that waits on epoll, reads and frames what
/// arrives, groups packets and publishes them, writes egress, and keeps time (idle timeouts,
/// group linger, statistics). Server and client stages add how connections come to be.
/// </summary>
/// <remarks>
/// Everything per message happens on this one thread with no hand-off, which is what makes a
/// stage pinned to one core fast. Other threads only enqueue egress (under a per-connection lock)
/// and post requests, then wake the loop through its eventfd.
/// </remarks>
internal abstract partial class StageCore : IDisposable
{
    private const int TokenGenerationShift = 32;

    protected readonly string Name;
    protected readonly ILogger Logger;
    protected readonly Reactor Reactor;
    protected readonly object Owner;

    private readonly IFraming _framing;
    private readonly IFrameEncoder _encoder;
    private readonly bool _raw;
    private readonly byte[] _readBuffer;
    private readonly int _maxBuffered;
    private readonly int _egressLimit;
    private readonly EgressOverflowPolicy _overflow;
    private readonly long _idleTimeoutMs;
    private readonly long _handshakeTimeoutMs;
    private readonly bool _scanConnections;
    private readonly long _idleCheckIntervalMs;
    private readonly ISessionFraming? _sessionFraming;
    /// <summary>Where sessions write protocol bytes; moved to the connection's egress after every call (service thread).</summary>
    private readonly System.Buffers.ArrayBufferWriter<byte> _sessionOutput = new(256);
    private readonly TimeSpan _statsInterval;
    private readonly TimeSpan _stopGrace;
    private readonly ThreadPriority _priority;
    private readonly IReadOnlyList<int> _affinity;

    private readonly ITopic<PacketGroup> _groupsTopic;
    private readonly ITopic<SocketStats> _statsTopic;
    private readonly ITopic<StageEvent> _eventsTopic;
    private readonly IDisposable _egressSubscription;
    private readonly IDisposable _controlSubscription;

    // Connections: by descriptor for epoll events, in a list for broadcast and scans, by id for routing.
    private Connection?[] _byFd = new Connection?[1024];
    private Connection[] _list = new Connection[64];
    private int _count;
    /// <summary>Connections in the list whose session handshake is done (all of them for plain framings). Under the list lock.</summary>
    private int _establishedCount;
    private readonly Lock _listLock = new();
    private readonly ConcurrentDictionary<ConnectionId, Connection> _byId = new();
    private uint _generation;

    private readonly List<Connection> _dirty = [];
    private readonly ConcurrentQueue<Connection> _remoteDirty = new();
    private readonly ConcurrentQueue<(Connection Connection, CloseRequest Request)> _closeRequests = new();

    private Thread? _thread;
    private int _serviceThreadId = -1;
    private readonly CancellationTokenSource _stopForced = new();
    private readonly TaskCompletionSource _stopped = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _stopState; // 0 running, 1 requested, 2 draining
    private long _stopDeadlineMs;

    protected long NowTs;
    protected long NowMs;
    protected long NowUtcTicks;
    private long _nextIdleCheckMs;
    private long _nextStatsMs;

    protected StageCore(object owner, CoreSettings settings, IMessageBus bus, ILogger logger)
    {
        var name = settings.Name;
        var framing = settings.Framing;
        Owner = owner;
        Name = name;
        Logger = logger;
        _framing = framing;
        _encoder = framing.Encoder;
        _raw = framing.IsRaw;
        _readBuffer = GC.AllocateUninitializedArray<byte>(settings.ReadBufferBytes, pinned: true);
        // Decoders never keep more than a frame and its overhead unconsumed; this is the backstop
        // should one do so. With the next read on top, that is the most a connection can hold.
        _maxBuffered = (int)Math.Min((long)framing.MaxFrameBytes + framing.FrameOverheadBytes, Array.MaxLength);
        _egressLimit = settings.EgressBufferBytes;
        _overflow = settings.EgressOverflow;
        _egressWaitTimeout = settings.EgressWaitTimeout;
        _queueWhenDisconnected = settings.QueueWhenDisconnected;
        _holdBytesLimit = settings.HoldWhenDisconnectedBytes;
        _groupNotices = settings.GroupNotices;
        _sessionFraming = framing as ISessionFraming;
        _idleTimeoutMs = (long)settings.IdleTimeout.TotalMilliseconds;
        _handshakeTimeoutMs = _sessionFraming is null ? 0 : Math.Max(1, (long)_sessionFraming.HandshakeTimeout.TotalMilliseconds);
        _scanConnections = _idleTimeoutMs > 0 || _handshakeTimeoutMs > 0;
        var shortest = _idleTimeoutMs > 0 && _handshakeTimeoutMs > 0 ? Math.Min(_idleTimeoutMs, _handshakeTimeoutMs) : Math.Max(_idleTimeoutMs, _handshakeTimeoutMs);
        _idleCheckIntervalMs = Math.Clamp(shortest / 8, 5, 1000);
        _statsInterval = settings.StatsInterval;
        _stopGrace = settings.StopGracePeriod;
        _priority = settings.ThreadPriority;
        _affinity = settings.ThreadProcessorAffinity;
        _groupSize = settings.GroupSize;
        _lingerTs = (long)(settings.GroupLinger.TotalSeconds * Stopwatch.Frequency);
        _pool = new PacketGroupPool(name, settings.GroupSize);

        _groupsTopic = bus.Topic<PacketGroup>(StageTopics.PacketGroup(name));
        _statsTopic = bus.Topic<SocketStats>(StageTopics.SocketStats(name));
        _eventsTopic = bus.Topic<StageEvent>(StageTopics.Events(name));
        _egressSubscription = bus.Topic<EgressMessage>(StageTopics.EgressPackets(name)).Subscribe(HandleEgressAsync);
        _controlSubscription = bus.Topic<ControlCommand>(StageTopics.Control(name)).Subscribe(HandleControlAsync);
        Reactor = new Reactor();
    }

    /// <summary>The kernel id of the service thread, once it runs (for /proc and tests).</summary>
    public int ServiceThreadOsId { get; private set; }

    public Task Stopped => _stopped.Task;

    public int ConnectionCount => Volatile.Read(ref _count);

    protected bool OnServiceThread => Environment.CurrentManagedThreadId == _serviceThreadId;

    protected bool IsStopping => Volatile.Read(ref _stopState) != 0;

    public void Start()
    {
        _thread = new Thread(Run) { IsBackground = true, Name = "ferry " + Name };
        _thread.Start();
    }

    private void Run()
    {
        _serviceThreadId = Environment.CurrentManagedThreadId;
        ServiceThreadOsId = ServiceThreadSetup.CurrentThreadOsId;
        foreach (var problem in ServiceThreadSetup.Apply(_priority, _affinity))
            RaiseError(StageErrorKind.Setup, problem);
        UpdateClock();
        _nextStatsMs = NowMs + (long)_statsInterval.TotalMilliseconds;
        _nextIdleCheckMs = NowMs + _idleCheckIntervalMs;
        _lastStats = new StatsSample(NowTs, 0, 0, 0, 0);
        try
        {
            OnStarted();
            RunLoop();
        }
        catch (Exception ex)
        {
            Log.LoopFailed(Logger, Name, ex);
            RaiseError(StageErrorKind.Handler, "service loop failed: " + ex.Message);
        }
        finally
        {
            CloseAll(DisconnectReason.ServerStopping);
            OnStopped();
            _egressSubscription.Dispose();
            _controlSubscription.Dispose();
            RaiseAndPublish(Closed, new ClosedEvent(Name, DateTimeOffset.UtcNow));
            Reactor.Dispose();
            _stopped.TrySetResult();
        }
    }

    private void RunLoop()
    {
        var events = Reactor.Events;
        while (true)
        {
            var n = Reactor.Wait(ComputeTimeoutMs());
            UpdateClock();
            for (var i = 0; i < n; i++)
            {
                var token = events.DataAt(i);
                var ready = events.EventsAt(i);
                if (token >= 0)
                    OnConnectionEvent(token, ready);
                else if (token == Reactor.WakeToken)
                    Reactor.ConsumeWake();
                else
                    OnSpecialEvent(token, ready);
            }
            DrainRequests();
            FlushDirty();
            if (_openGroup is not null && NowTs - _openGroupStartTs >= _lingerTs)
                PublishGroup();
            RunTimers();
            if (_stopState != 0 && StopStep())
                return;
        }
    }

    protected void UpdateClock()
    {
        NowTs = Stopwatch.GetTimestamp();
        NowMs = Environment.TickCount64;
        NowUtcTicks = DateTime.UtcNow.Ticks;
    }

    private int ComputeTimeoutMs()
    {
        if (_dirty.Count > 0 || !_remoteDirty.IsEmpty || !_closeRequests.IsEmpty)
            return 0;
        var next = Math.Min(_nextStatsMs, NextTimerMs());
        if (_scanConnections)
            next = Math.Min(next, _nextIdleCheckMs);
        if (_stopState == 2)
            next = Math.Min(next, NowMs + 10);
        var wait = next - Environment.TickCount64;
        if (_openGroup is not null)
        {
            var lingerLeft = _lingerTs - (Stopwatch.GetTimestamp() - _openGroupStartTs);
            wait = Math.Min(wait, (long)Math.Ceiling(lingerLeft * 1000.0 / Stopwatch.Frequency));
        }
        return (int)Math.Clamp(wait, 0, 1000);
    }

    private void RunTimers()
    {
        if (_scanConnections && NowMs >= _nextIdleCheckMs)
        {
            _nextIdleCheckMs = NowMs + _idleCheckIntervalMs;
            ScanConnectionTimeouts();
        }
        if (NowMs >= _nextStatsMs)
        {
            _nextStatsMs += (long)_statsInterval.TotalMilliseconds;
            if (_nextStatsMs <= NowMs)
                _nextStatsMs = NowMs + (long)_statsInterval.TotalMilliseconds;
            PublishStats();
        }
        OnTimers();
    }

    /// <summary>Earliest time (TickCount64 ms) a subclass timer wants to run; long.MaxValue for none.</summary>
    protected virtual long NextTimerMs() => long.MaxValue;

    protected virtual void OnTimers() { }

    protected abstract void OnStarted();

    protected virtual void OnStopAccepting() { }

    protected virtual void OnStopped() { }

    /// <summary>epoll tokens below -1 belong to the subclass (listeners, dialling sockets).</summary>
    protected virtual void OnSpecialEvent(long token, uint events) { }

    // ---- stopping ----

    /// <summary>Asks the loop to stop gracefully: stop accepting, drain egress for the grace period, close.</summary>
    public Task StopAsync(CancellationToken cancellationToken)
    {
        if (_thread is null)
        {
            _stopped.TrySetResult();
            return Task.CompletedTask;
        }
        if (Interlocked.CompareExchange(ref _stopState, 1, 0) == 0)
            Reactor.Wake();
        if (!_stopped.Task.IsCompleted && cancellationToken.CanBeCanceled)
        {
            cancellationToken.Register(static s =>
            {
                var core = (StageCore)s!;
                core._stopForced.Cancel();
                try { core.Reactor.Wake(); } catch (ObjectDisposedException) { }
            }, this);
        }
        return _stopped.Task;
    }

    private bool StopStep()
    {
        if (_stopState == 1)
        {
            _stopState = 2;
            _stopDeadlineMs = NowMs + (long)_stopGrace.TotalMilliseconds;
            OnStopAccepting();
            if (_openGroup is not null)
                PublishGroup();
        }
        if (_stopForced.IsCancellationRequested || NowMs >= _stopDeadlineMs)
            return true;
        lock (_listLock)
        {
            for (var i = 0; i < _count; i++)
            {
                var c = _list[i];
                lock (c.EgressLock)
                    if (!c.Egress.IsEmpty)
                        return false;
            }
        }
        return true;
    }

    public virtual void Dispose()
    {
        _stopForced.Dispose();
    }
}
