using Ferry.Transport;
using Microsoft.Extensions.Logging;

namespace Ferry.Stages.Internal;

/// <summary>What a stage does in each round of its service loop.</summary>
internal interface ILoopRound
{
    /// <summary>First thing on the new thread, with the clock running.</summary>
    void OnStarted();

    /// <summary>One readiness event (a connection, or a token of the connection source).</summary>
    void OnEvent(long token, ReadyFlags flags);

    /// <summary>After the events: posted requests, flushes, linger, timers.</summary>
    void AfterEvents();

    /// <summary>Whether work is queued that must not wait for readiness (the next wait does not block).</summary>
    bool HasPostedWork { get; }

    /// <summary>The earliest deadline of any timer (stage clock, ms).</summary>
    long NextDueMs();

    /// <summary>Stopping began: stop taking new connections, publish what is open.</summary>
    void OnStopRequested();

    /// <summary>Whether queued egress has drained (and connection handlers have ended), so the stop may finish before its grace period ends.</summary>
    bool EgressDrained();

    /// <summary>Last thing on the thread: close everything, announce the stage closed.</summary>
    void OnEnded(Exception? failure);
}

/// <summary>
/// The stage's one dedicated thread: waits on readiness, dispatches events, runs the round's work and
/// its timers, and stops gracefully. Owns the thread, the clock updates, the stop state and the wake-up
/// timer that lets a fake <see cref="TimeProvider"/> wake the loop.
/// </summary>
internal sealed class ServiceLoop
{
    private const int MaxWaitMs = 1000;

    /// <summary>The loop whose service thread this is; null on any other thread.</summary>
    [ThreadStatic]
    private static ServiceLoop? t_current;
    private const int DrainPollMs = 10;

    private readonly string _name;
    private readonly IReadiness _readiness;
    private readonly StageClock _clock;
    private readonly ThreadPriority _priority;
    private readonly IReadOnlyList<int> _affinity;
    private readonly TimeSpan _grace;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _stopForced = new();
    private readonly TaskCompletionSource _stopped = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private ILoopRound? _round;
    private ITimer? _wakeTimer;
    private ITimer? _graceTimer;
    private Thread? _thread;
    private int _threadId = -1;
    private int _stopState; // 0 running, 1 requested, 2 draining
    private long _stopDeadlineMs;

    public ServiceLoop(string name, IReadiness readiness, StageClock clock, ThreadPriority priority, IReadOnlyList<int> affinity, TimeSpan grace, ILogger logger)
    {
        _name = name;
        _readiness = readiness;
        _clock = clock;
        _priority = priority;
        _affinity = affinity;
        _grace = grace;
        _logger = logger;
    }

    /// <summary>Cancelled when a stop is cut short: publishes blocked on a full queue give up.</summary>
    public CancellationToken StopForced => _stopForced.Token;

    public Task Stopped => _stopped.Task;

    /// <summary>The kernel id of the service thread, once it runs (for /proc and tests).</summary>
    public int OsThreadId { get; private set; }

    public bool OnServiceThread => Environment.CurrentManagedThreadId == _threadId;

    /// <summary>
    /// Set while the service thread runs an inline connection handler (<see cref="ConnectionHandlers.RunInline"/>).
    /// Code that would otherwise avoid waiting on this thread may then await: the handler's await suspends
    /// it and the loop goes on, as on a pool thread. Service thread only.
    /// </summary>
    public bool RunningInlineHandler { get; set; }

    /// <summary>On the service thread outside an inline handler: here nothing may wait for anything.</summary>
    public bool MustNotWait => OnServiceThread && !RunningInlineHandler;

    /// <summary>
    /// The loop whose service thread calls, when it is one and is not running an inline handler: a call
    /// that must not wait, whichever stage it sends to.
    /// </summary>
    public static ServiceLoop? CurrentNotInHandler => t_current is { RunningInlineHandler: false } loop ? loop : null;

    /// <summary>
    /// Whether this is any stage's service thread. A sender whose wait for room timed out checks it before it goes on: the
    /// timeout is a timer on the stage's clock, and a timer fires on whichever thread moves the clock. With
    /// <see cref="TimeProvider.System"/> that is a pool thread; with a fake clock (what a user's tests pass in) it may be a
    /// service thread (an event handler that advances it, or the loop re-arming its own timer, which wakes the clock's due
    /// timers). Continued there, the sender's next send would not wait but queue past the limit, and all it does would stall
    /// the stage.
    /// </summary>
    public static bool OnAnyServiceThread => t_current is not null;

    /// <summary>How this loop's stage holds its senders for another stage's full connections (set once, before start).</summary>
    public CrossStageHolds? CrossStageHolds { get; set; }

    /// <summary>The stage whose full connection this loop's thread waits for room on (the wait policy across stages); null when it waits for none.</summary>
    private ServiceLoop? _waitingFor;

    /// <summary>
    /// Marks this loop's thread as waiting for room on <paramref name="target"/>'s connections. False, and
    /// nothing marked, when <paramref name="target"/> waits for this loop, directly or through other stages:
    /// each thread would wait for a flush only the other can do, so the caller must not wait
    /// (<see cref="Internal.CrossStageHolds"/>). The mark is set before the chain is read, so of two threads
    /// deciding at once, at least one sees the other.
    /// </summary>
    public bool TryWaitFor(ServiceLoop target)
    {
        Interlocked.Exchange(ref _waitingFor, target);
        var next = target;
        for (var hops = 0; next is not null && hops < 16; hops++)
        {
            if (next == this)
            {
                Volatile.Write(ref _waitingFor, null);
                return false;
            }
            next = Volatile.Read(ref next._waitingFor);
        }
        return true;
    }

    /// <summary>The wait marked by <see cref="TryWaitFor"/> is over.</summary>
    public void DoneWaiting() => Volatile.Write(ref _waitingFor, null);

    public bool IsStopping => Volatile.Read(ref _stopState) != 0;

    /// <summary>Problems applying priority or affinity, reported by the round once it starts.</summary>
    public List<string> SetupProblems { get; } = [];

    public void Wake() => _readiness.Wake();

    /// <summary>Whether <see cref="Start"/> has been called.</summary>
    public bool Started => _thread is not null;

    public void Start(ILoopRound round)
    {
        _round = round;
        _thread = new Thread(Run) { IsBackground = true, Name = "ferry " + _name };
        _thread.Start();
    }

    private void Run()
    {
        _threadId = Environment.CurrentManagedThreadId;
        t_current = this;
        OsThreadId = ServiceThreadSetup.CurrentThreadOsId;
        SetupProblems.AddRange(ServiceThreadSetup.Apply(_priority, _affinity));
        if (!_clock.IsSystem)
            _wakeTimer = _clock.Time.CreateTimer(static s => ((IReadiness)s!).Wake(), _readiness, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
        _clock.Update();
        var round = _round!;
        Exception? failure = null;
        try
        {
            round.OnStarted();
            RunRounds(round);
        }
        catch (Exception ex)
        {
            failure = ex;
            LogFailure(ex);
        }
        finally
        {
            _wakeTimer?.Dispose();
            try
            {
                round.OnEnded(failure);
            }
            catch (Exception ex)
            {
                // An exception that leaves this thread ends the process: whatever failed while closing,
                // the stage has ended, and every other stage and the host go on.
                LogFailure(ex);
            }
            finally
            {
                _readiness.Dispose();
                _stopped.TrySetResult();
                // After Stopped: a timer armed concurrently sees Stopped and disposes itself (ArmGraceTimer).
                Interlocked.Exchange(ref _graceTimer, null)?.Dispose();
            }
        }
    }

    private void LogFailure(Exception ex)
    {
        try
        {
            Log.LoopFailed(_logger, _name, ex);
        }
        catch (Exception)
        {
            // The logger itself failed (a provider that cannot write, or cannot be built when the process
            // is out of descriptors). There is no one left to tell; the stage's Closed event still says it ended.
        }
    }

    private void RunRounds(ILoopRound round)
    {
        while (true)
        {
            var n = _readiness.Wait(WaitTimeoutMs(round));
            _clock.Update();
            for (var i = 0; i < n; i++)
            {
                var (token, flags) = _readiness.EventAt(i);
                if (token == IReadiness.WakeToken)
                    _readiness.ConsumeWake();
                else
                    round.OnEvent(token, flags);
            }
            round.AfterEvents();
            if (_stopState != 0 && StopStep(round))
                return;
        }
    }

    private int WaitTimeoutMs(ILoopRound round)
    {
        if (round.HasPostedWork)
            return 0;
        var next = round.NextDueMs();
        if (_stopState == 2)
            next = Math.Min(next, _clock.NowMs + DrainPollMs);
        var wait = Math.Clamp(next - _clock.NowMsFresh, 0, MaxWaitMs);
        // A fake clock does not move while the thread sleeps: a timer on it wakes the loop when a
        // test advances it past the deadline. (System time needs no timer: the wait itself times out.)
        _wakeTimer?.Change(next == long.MaxValue ? Timeout.InfiniteTimeSpan : TimeSpan.FromMilliseconds(wait), Timeout.InfiniteTimeSpan);
        return (int)wait;
    }

    /// <summary>Asks the loop to stop gracefully: stop accepting, drain egress for the grace period, close.</summary>
    public Task StopAsync(CancellationToken cancellationToken)
    {
        if (_thread is null)
        {
            _stopped.TrySetResult();
            return Task.CompletedTask;
        }
        if (Interlocked.CompareExchange(ref _stopState, 1, 0) == 0)
        {
            ArmGraceTimer();
            _readiness.Wake();
        }
        if (_stopped.Task.IsCompleted || !cancellationToken.CanBeCanceled)
            return _stopped.Task;
        return WaitStoppedAsync(cancellationToken);
    }

    private async Task WaitStoppedAsync(CancellationToken cancellationToken)
    {
        // The registration lives exactly as long as the wait: cancelling the caller's token later, even
        // after the stage is disposed, does nothing.
        using (cancellationToken.UnsafeRegister(static s => ((ServiceLoop)s!).ForceStop(), this))
            await _stopped.Task.ConfigureAwait(false);
    }

    /// <summary>
    /// Bounds the stop by its grace period even when the service thread cannot look at its deadline: a
    /// publish blocked by backpressure (a full queue subscription, a broker's full window) holds the thread
    /// inside a round, and only a forced stop releases it. The loop's own deadline (<see cref="StopStep"/>)
    /// ends an ordinary drain; this timer ends the one that cannot get there.
    /// </summary>
    private void ArmGraceTimer()
    {
        // Longer than a timer can wait is as good as unbounded: the caller's token still cuts it short.
        if (_grace >= MaxTimerDue)
            return;
        var timer = _clock.Time.CreateTimer(static s => ((ServiceLoop)s!).ForceStop(), this, _grace, Timeout.InfiniteTimeSpan);
        Interlocked.Exchange(ref _graceTimer, timer);
        if (_stopped.Task.IsCompleted)
            Interlocked.Exchange(ref _graceTimer, null)?.Dispose();
    }

    private static readonly TimeSpan MaxTimerDue = TimeSpan.FromMilliseconds(uint.MaxValue - 1);

    private void ForceStop()
    {
        _stopForced.Cancel();
        _readiness.Wake();
    }

    private bool StopStep(ILoopRound round)
    {
        if (_stopState == 1)
        {
            _stopState = 2;
            _stopDeadlineMs = _clock.NowMs + (long)_grace.TotalMilliseconds;
            round.OnStopRequested();
        }
        return _stopForced.IsCancellationRequested || _clock.NowMs >= _stopDeadlineMs || round.EgressDrained();
    }
}
