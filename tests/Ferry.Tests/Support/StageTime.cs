using System.Collections.Concurrent;
using Ferry.Stages.Internal;
using Microsoft.Extensions.Time.Testing;

namespace Ferry.Tests.Support;

/// <summary>
/// A <see cref="FakeTimeProvider"/> for stages that also tells when a stage's service loop has finished a
/// round at (or after) the current fake time, so a test can assert that something has <em>not</em>
/// happened yet without sleeping.
/// </summary>
/// <remarks>
/// A service loop reads the clock first thing in every round (<c>StageClock.Update</c>) and re-arms its
/// wake-up timer last thing, after the round's timers ran (<c>ServiceLoop.WaitTimeoutMs</c>). Both calls
/// come through this provider on the loop's thread ("ferry &lt;stage&gt;"): the first timestamp read since
/// the last re-arm is the round's time, and the re-arm marks the round done.
/// <para>To make a timer fire, <see cref="FakeTimeProvider.Advance"/> the clock and await what must happen
/// (the loop's own wake-up timer wakes it). To check that nothing happened, <see cref="SettleAsync"/>
/// after advancing: it wakes the loop and waits for a finished round that saw the current time.</para>
/// </remarks>
public sealed class StageTime : FakeTimeProvider
{
    private sealed class LoopRounds
    {
        public long RoundStart = long.MinValue;
        public long DoneAt = long.MinValue;
    }

    private readonly ConcurrentDictionary<string, LoopRounds> _loops = new();

    /// <summary>A fake clock starting at a fixed, whole-second instant.</summary>
    public StageTime() : base(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero))
    {
    }

    /// <summary>Fake milliseconds since the clock started (for messages).</summary>
    public double ElapsedMs => (GetUtcNow() - Start).TotalMilliseconds;

    public override long GetTimestamp()
    {
        var now = base.GetTimestamp();
        if (CurrentLoop() is { } loop && loop.RoundStart == long.MinValue)
            loop.RoundStart = now;
        return now;
    }

    public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
    {
        var timer = base.CreateTimer(callback, state, dueTime, period);
        return CurrentLoop() is { } loop ? new LoopTimer(timer, loop) : timer;
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
    /// Wakes each stage's service loop and waits (real time, bounded) until it has finished a round
    /// that began at or after the current fake time: every timer due by now has run.
    /// </summary>
    public async Task SettleAsync(params object[] stages)
    {
        var target = base.GetTimestamp();
        foreach (var stage in stages)
        {
            var engine = EngineOf(stage);
            var loop = _loops.GetOrAdd("ferry " + engine.Name, _ => new LoopRounds());
            engine.Loop.Wake();
            await Eventually.TrueAsync(() => Volatile.Read(ref loop.DoneAt) >= target,
                $"'{engine.Name}' to finish a loop round at fake time +{ElapsedMs} ms");
        }
    }

    private static StageEngine EngineOf(object stage) => stage switch
    {
        Ferry.Stages.TcpServerStage s => s.Core,
        Ferry.Stages.TcpClientStage c => c.Core,
        StageHarness h => h.Stage.Core,
        _ => throw new ArgumentException($"not a stage: {stage}", nameof(stage)),
    };

    private LoopRounds? CurrentLoop()
        => Thread.CurrentThread.Name is { } name && name.StartsWith("ferry ", StringComparison.Ordinal)
            ? _loops.GetOrAdd(name, _ => new LoopRounds())
            : null;

    private sealed class LoopTimer(ITimer inner, LoopRounds loop) : ITimer
    {
        public bool Change(TimeSpan dueTime, TimeSpan period)
        {
            var changed = inner.Change(dueTime, period);
            if (loop.RoundStart != long.MinValue)
                Volatile.Write(ref loop.DoneAt, Math.Max(loop.DoneAt, loop.RoundStart));
            loop.RoundStart = long.MinValue;
            return changed;
        }

        public void Dispose() => inner.Dispose();

        public ValueTask DisposeAsync() => inner.DisposeAsync();
    }
}
