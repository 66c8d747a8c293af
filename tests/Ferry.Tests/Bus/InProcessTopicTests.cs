using Ferry.Bus;

namespace Ferry.Tests.Bus;

/// <summary>
/// Subscribers of one topic are independent: a handler that throws, or whose task faults, misses the message
/// alone; every later handler and every queue still get it, and the publish then fails with what was thrown.
/// </summary>
public sealed class InProcessTopicTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(10);

    /// <summary>A topic with <paramref name="failing"/> first, then a recording handler and a queue.</summary>
    private static (ITopic<string> Topic, List<string> Seen, ISubscription<string> Queue) TopicAfter(MessageHandler<string> failing)
    {
        var topic = new InProcessBus().Topic<string>("t");
        var seen = new List<string>();
        topic.Subscribe(failing);
        topic.Subscribe((m, _) =>
        {
            seen.Add(m);
            return default;
        });
        return (topic, seen, topic.SubscribeQueue());
    }

    private static List<string> Drain(ISubscription<string> queue)
    {
        var taken = new List<string>();
        while (queue.TryRead(out var m))
            taken.Add(m);
        return taken;
    }

    [Fact]
    public async Task A_handler_that_throws_misses_the_message_alone_and_the_publish_then_fails_with_its_exception()
    {
        var (topic, seen, queue) = TopicAfter((m, _) => m.Contains('!') ? throw new FormatException($"cannot format '{m}'") : default);

        foreach (var m in new[] { "a", "b!", "c" })
        {
            var publishing = topic.PublishAsync(m);
            if (m == "b!")
                Assert.Equal("cannot format 'b!'", (await Assert.ThrowsAsync<FormatException>(() => publishing.AsTask())).Message);
            else
                Assert.True(publishing.IsCompletedSuccessfully);
        }

        Assert.Equal(["a", "b!", "c"], seen);
        Assert.Equal(["a", "b!", "c"], Drain(queue));
    }

    [Fact]
    public async Task A_handler_whose_task_faults_at_once_misses_the_message_alone()
    {
        var (topic, seen, queue) = TopicAfter((_, _) => ValueTask.FromException(new InvalidOperationException("faulted")));

        await Assert.ThrowsAsync<InvalidOperationException>(() => topic.PublishAsync("a").AsTask());

        Assert.Equal(["a"], seen);
        Assert.Equal(["a"], Drain(queue));
    }

    [Fact]
    public async Task A_handler_whose_task_faults_later_misses_the_message_alone()
    {
        var later = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var (topic, seen, queue) = TopicAfter((_, _) => new ValueTask(later.Task));

        var publishing = topic.PublishAsync("a").AsTask();
        Assert.False(publishing.IsCompleted);
        later.SetException(new TimeoutException("late"));

        await Assert.ThrowsAsync<TimeoutException>(() => publishing.WaitAsync(Deadline));
        Assert.Equal(["a"], seen);
        Assert.Equal(["a"], Drain(queue));
    }

    [Fact]
    public async Task Several_failures_are_thrown_together_in_subscription_order_after_every_subscriber_had_the_message()
    {
        var topic = new InProcessBus().Topic<string>("t");
        var seen = new List<string>();
        topic.Subscribe((_, _) => throw new FormatException("first"));
        topic.Subscribe((_, _) => ValueTask.FromException(new InvalidOperationException("second")));
        topic.Subscribe((m, _) =>
        {
            seen.Add(m);
            return default;
        });
        using var queue = topic.SubscribeQueue();

        var thrown = await Assert.ThrowsAnyAsync<AggregateException>(() => topic.PublishAsync("a").AsTask());

        Assert.Equal(["first", "second"], thrown.InnerExceptions.Select(e => e.Message));
        Assert.Contains("2 subscribers of 't' failed", thrown.Message);
        Assert.Equal(["a"], seen);
        Assert.Equal(["a"], Drain(queue));
    }

    [Fact]
    public async Task After_a_failure_a_full_queue_is_still_waited_for_and_filled()
    {
        var topic = new InProcessBus().Topic<string>("t");
        topic.Subscribe((_, _) => throw new FormatException("boom"));
        using var queue = topic.SubscribeQueue(capacity: 1);
        await Assert.ThrowsAsync<FormatException>(() => topic.PublishAsync("first").AsTask()); // fills the queue

        var publishing = topic.PublishAsync("second").AsTask();
        Assert.False(publishing.IsCompleted); // waits for room
        Assert.True(queue.TryRead(out var first));
        Assert.Equal("first", first);

        await Assert.ThrowsAsync<FormatException>(() => publishing.WaitAsync(Deadline));
        Assert.True(queue.TryRead(out var second));
        Assert.Equal("second", second);
    }

    [Fact]
    public void A_publish_that_nothing_fails_allocates_nothing()
    {
        var topic = new InProcessBus().Topic<string>("t");
        var calls = 0;
        for (var i = 0; i < 3; i++)
            topic.Subscribe((_, _) =>
            {
                calls++;
                return default;
            });
        using var queue = topic.SubscribeQueue(capacity: 4);

        void PublishAndTake()
        {
            for (var i = 0; i < 1000; i++)
            {
                Assert.True(topic.PublishAsync("m").IsCompletedSuccessfully);
                queue.TryRead(out _);
            }
        }

        PublishAndTake(); // warm up
        // The least of three runs: the runtime itself can allocate on this thread once in a while (a method's tier-up, a
        // type loaded for the first time), while one allocation per publish would be at least 24 KB in every run.
        var allocated = long.MaxValue;
        for (var run = 0; run < 3; run++)
        {
            var before = GC.GetAllocatedBytesForCurrentThread();
            PublishAndTake();
            allocated = Math.Min(allocated, GC.GetAllocatedBytesForCurrentThread() - before);
        }
        Assert.True(allocated < 500, $"{allocated} bytes allocated by 1000 publishes (the least of three runs)");
        Assert.Equal(12000, calls);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public async Task A_publish_stops_waiting_for_a_handler_that_ignores_its_token_once_the_token_is_cancelled(int handlers)
    {
        var topic = new InProcessBus().Topic<int>("t");
        var never = new TaskCompletionSource();
        var later = 0;
        using var first = topic.Subscribe(async (_, _) => await never.Task);
        using var second = handlers == 2 ? topic.Subscribe((_, _) => { later++; return default; }) : null;
        using var cancel = new CancellationTokenSource();
        var publishing = topic.PublishAsync(1, cancel.Token).AsTask();
        Assert.False(publishing.IsCompleted);

        cancel.Cancel();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => publishing.WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.Equal(0, later); // the subscribers after the abandoned one miss the message, as queues not reached do
        never.SetResult();
    }
}
