using System.Collections.Concurrent;
using Ferry.Stages.Internal;
using Microsoft.Extensions.Time.Testing;

namespace Ferry.Tests.Support;

/// <summary>
/// A <see cref="FakeTimeProvider"/> for stages that also tells when a stage's service loop has run a
/// whole round since a given moment, so a test can assert that something has <em>not</em> happened
/// (yet) without sleeping.
/// </summary>
/// <remarks>
/// A service loop re-arms its wake-up timer on this provider last thing in a round, after the round's
/// posted requests, timers and stop step ran (<c>ServiceLoop.WaitTimeoutMs</c>); the timer was created on
/// the loop's own thread ("ferry &lt;stage&gt;"), which is how it is told from other timers.
/// <para>To make a timer fire, <see cref="FakeTimeProvider.Advance"/> the clock and await what must happen
/// (the loop's own wake-up timer wakes it). To check that nothing happened, <see cref="SettleAsync"/>
/// after advancing: it wakes the loop and waits for a round that began after the call, and so saw the
/// current time and everything requested before.</para>
/// </remarks>
public sealed class StageTime : FakeTimeProvider
{
    private sealed class LoopRounds
    {
        public long Completed;
    }

    private readonly ConcurrentDictionary<string, LoopRounds> _loops = new();

    /// <summary>A fake clock starting at a fixed, whole-second instant.</summary>
    public StageTime() : base(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero))
    {
    }

    /// <summary>Fake milliseconds since the clock started (for messages).</summary>
    public double ElapsedMs => (GetUtcNow() - Start).TotalMilliseconds;

    /// <summary>
    /// Raised with its due time as a timer is created on this clock off the stages' service loops (a wait a task times on the
    /// stage clock: <see cref="Task.WaitAsync(TimeSpan, TimeProvider, CancellationToken)"/>, a timed CancellationTokenSource): a
    /// test that moves the clock for such a wait knows it has begun, instead of guessing when its task ran.
    /// </summary>
    public event Action<TimeSpan>? TimerCreated;

    public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
    {
        var timer = base.CreateTimer(callback, state, dueTime, period);
        if (Thread.CurrentThread.Name is { } name && name.StartsWith("ferry ", StringComparison.Ordinal))
            return new LoopTimer(timer, Rounds(name));
        TimerCreated?.Invoke(dueTime);
        return timer;
    }

    /// <summary>Advances the clock in <paramref name="step"/>s up to <paramref name="total"/>, letting the stages finish a round after each.</summary>
    public async Task AdvanceInStepsAsync(TimeSpan total, TimeSpan step, params object[] stages)
    {
        for (var done = TimeSpan.Zero; done < total; done += step)
        {
            Advance(step < total - done ? step : total - done);
            await SettleAsync(stages);
        }
    }

    /// <summary>
    /// Moves the clock on by <paramref name="step"/> at a time until <paramref name="condition"/> holds, for
    /// what also needs the network to answer (a reconnect: each step makes the next attempt due, and the
    /// connect itself completes in real time). Bounded by <see cref="Poll.DefaultTimeout"/>.
    /// </summary>
    public async Task AdvanceUntilAsync(Func<bool> condition, TimeSpan step, string what)
    {
        var deadline = DateTime.UtcNow + Poll.DefaultTimeout;
        while (!condition())
        {
            if (DateTime.UtcNow > deadline)
                throw new TimeoutException($"timed out waiting until {what} (fake time +{ElapsedMs} ms)");
            Advance(step);
            await Task.Delay(5);
        }
    }

    /// <summary>
    /// Waits (real time, bounded) until each stage's service loop has run a whole round that began after
    /// this call: every timer due by the current fake time has run, and every request made before.
    /// </summary>
    public async Task SettleAsync(params object[] stages)
    {
        foreach (var stage in stages)
        {
            var engine = EngineOf(stage);
            var rounds = Rounds("ferry " + engine.Name);
            var before = Volatile.Read(ref rounds.Completed);
            // The round under way may have begun before the call; the one after the next wake-up has not.
            for (var i = 1; i <= 2; i++)
            {
                engine.Loop.Wake();
                await Poll.UntilAsync(() => Volatile.Read(ref rounds.Completed) >= before + i,
                    $"'{engine.Name}' to finish a loop round at fake time +{ElapsedMs} ms");
            }
        }
    }

    private static StageEngine EngineOf(object stage) => stage switch
    {
        Ferry.Stages.TcpServerStage s => s.Core,
        Ferry.Stages.TcpClientStage c => c.Core,
        FerryTestServer h => h.Stage.Core,
        _ => throw new ArgumentException($"not a stage: {stage}", nameof(stage)),
    };

    private LoopRounds Rounds(string threadName) => _loops.GetOrAdd(threadName, _ => new LoopRounds());

    private sealed class LoopTimer(ITimer inner, LoopRounds rounds) : ITimer
    {
        public bool Change(TimeSpan dueTime, TimeSpan period)
        {
            var changed = inner.Change(dueTime, period);
            Interlocked.Increment(ref rounds.Completed);
            return changed;
        }

        public void Dispose() => inner.Dispose();

        public ValueTask DisposeAsync() => inner.DisposeAsync();
    }
}
