using System.Net.Sockets;
using Ferry.Bus;
using Ferry.Stages;
using Ferry.Tests.Bridge;

namespace Ferry.Tests.Stages;

/// <summary>
/// <c>stage.Connected += async (s, e) =&gt; …</c> is how a .NET developer writes a handler that awaits. An exception it throws
/// after its first await has no caller to go to: with no synchronization context the runtime throws it on a pool thread
/// and the process ends. The stage calls its handlers under a context that logs it instead.
/// </summary>
public sealed class AsyncEventHandlerTests
{
    [Fact]
    public async Task An_async_void_handler_that_throws_after_an_await_is_logged_and_the_process_and_the_stage_go_on()
    {
        var logs = new CapturingLoggerFactory(timestamps: false);
        await using var stage = new TcpServerStage(new TcpServerStageOptions { Bind = "127.0.0.1:0" }, new InProcessBus(), logs);
        var calls = 0;
        var serviceThread = -1;
        var resumedOn = new System.Collections.Concurrent.ConcurrentQueue<int>();
        stage.Connected += async (_, _) =>
        {
            Interlocked.Increment(ref calls);
            serviceThread = Environment.CurrentManagedThreadId;
            await Task.Yield();
            resumedOn.Enqueue(Environment.CurrentManagedThreadId);
            throw new InvalidOperationException("late boom");
        };
        var endPoint = await stage.StartAsync().WaitAsync(TimeSpan.FromSeconds(10));

        for (var i = 1; i <= 2; i++)
        {
            using var client = new Socket(SocketType.Stream, ProtocolType.Tcp);
            await client.ConnectAsync(endPoint);
            var expected = i;
            await Poll.UntilAsync(() => logs.All.Count(l => l.Contains("an async void event handler threw", StringComparison.Ordinal)) == expected,
                $"the late exception of handler call {expected} logged");
        }

        Assert.Equal(2, Volatile.Read(ref calls));
        // What follows an await runs on the thread pool, never back on the stage's own thread.
        Assert.DoesNotContain(serviceThread, resumedOn);
        Assert.Equal(2, stage.GetStats().AcceptedTotal);
    }

    [Fact]
    public async Task A_handler_that_blocks_on_an_awaited_task_does_not_deadlock_the_stage()
    {
        await using var stage = new TcpServerStage(new TcpServerStageOptions { Bind = "127.0.0.1:0" }, new InProcessBus());
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        stage.Connected += (_, _) =>
        {
            // Blocking on async code that does not use ConfigureAwait(false): a context that brought continuations
            // back to the blocked thread would deadlock here.
            Task.Run(async () => await Task.Yield()).Wait(TimeSpan.FromSeconds(10));
            SomethingAsync().GetAwaiter().GetResult();
            done.TrySetResult();
        };
        var endPoint = await stage.StartAsync().WaitAsync(TimeSpan.FromSeconds(10));
        using var client = new Socket(SocketType.Stream, ProtocolType.Tcp);
        await client.ConnectAsync(endPoint);
        await done.Task.WaitAsync(TimeSpan.FromSeconds(10));

        static async Task SomethingAsync() => await Task.Delay(1);
    }

    [Fact]
    public async Task A_handler_that_holds_the_stage_thread_is_reported_once_it_returns()
    {
        var logs = new CapturingLoggerFactory(timestamps: false);
        var time = new Ferry.Tests.Support.StageTime();
        await using var stage = new TcpServerStage(new TcpServerStageOptions { Bind = "127.0.0.1:0" }, new InProcessBus(), logs, time);
        var hold = TimeSpan.FromMilliseconds(99);
        var handled = 0;
        stage.Connected += (_, _) =>
        {
            time.Advance(hold); // stands in for a blocking call of that length
            Interlocked.Increment(ref handled);
        };
        var endPoint = await stage.StartAsync().WaitAsync(TimeSpan.FromSeconds(10));

        using (var quick = new Socket(SocketType.Stream, ProtocolType.Tcp))
        {
            await quick.ConnectAsync(endPoint);
            await Poll.UntilAsync(() => Volatile.Read(ref handled) == 1, "the first client's handler to have run");
        }
        hold = TimeSpan.FromMilliseconds(150);
        using var slow = new Socket(SocketType.Stream, ProtocolType.Tcp);
        await slow.ConnectAsync(endPoint);
        await Poll.UntilAsync(() => logs.All.Any(l => l.Contains("handler held the thread", StringComparison.Ordinal)), "the slow handler reported");

        var line = Assert.Single(logs.All, l => l.Contains("handler held the thread", StringComparison.Ordinal));
        Assert.Contains("a ConnectedEvent handler held the thread for 150 ms", line, StringComparison.Ordinal);
        Assert.StartsWith("Warning", line, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_stage_of_the_ferry_commands_does_not_report_its_own_slow_handlers()
    {
        var logs = new CapturingLoggerFactory(timestamps: false);
        var time = new Ferry.Tests.Support.StageTime();
        await using var stage = new TcpServerStage(new TcpServerStageOptions { Bind = "127.0.0.1:0" }, new InProcessBus(), logs, time);
        stage.Core.Events.ReportSlowHandlers = false;
        var handled = 0;
        stage.Connected += (_, _) => time.Advance(TimeSpan.FromMilliseconds(150));
        // Called after the slow one has returned and been measured: once it has run, a report would have been logged.
        stage.Connected += (_, _) => Interlocked.Increment(ref handled);
        var endPoint = await stage.StartAsync().WaitAsync(TimeSpan.FromSeconds(10));

        using var client = new Socket(SocketType.Stream, ProtocolType.Tcp);
        await client.ConnectAsync(endPoint);
        await Poll.UntilAsync(() => Volatile.Read(ref handled) == 1, "both handlers to have run");

        Assert.DoesNotContain(logs.All, l => l.Contains("handler held the thread", StringComparison.Ordinal));
        Assert.DoesNotContain(logs.All, l => l.StartsWith("Warning", StringComparison.Ordinal));
    }
}
