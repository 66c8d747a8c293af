using Ferry.Transport;
using Ferry.Stages;
using Ferry.Tests.Support;

namespace Ferry.Tests.Stages;

public abstract class StatsTests(StageTransport transport)
{
    /// <summary>These tests on the epoll transport.</summary>
    public sealed class OnEpoll() : StatsTests(StageTransport.Epoll);

    /// <summary>These tests on the portable stream transport.</summary>
    public sealed class OnStream() : StatsTests(StageTransport.Stream);

    private StageTransport Transport => transport;

    [Fact]
    public async Task Socket_stats_are_published_periodically_with_figures_that_match_the_traffic()
    {
        var interval = TimeSpan.FromMilliseconds(100);
        var time = new StageTime();
        await using var h = new FerryTestServer(new TcpServerStageOptions { StatsInterval = interval }.On(Transport), time: time);
        using var stats = h.Bus.Topic<SocketStats>(StageTopics.SocketStats(h.Stage.Name)).SubscribeQueue(capacity: 1000);
        h.Bus.Topic<PacketGroup>(StageTopics.PacketGroup(h.Stage.Name)).Subscribe(async (group, ct) =>
        {
            foreach (var p in group)
                await h.Bus.Topic<EgressMessage>(StageTopics.EgressPackets(h.Stage.Name)).PublishAsync(EgressMessage.To(p.ConnectionId, p.Payload), ct);
        });
        await h.StartAsync();
        using var client = await h.ConnectAsync();
        await h.WaitForConnectionAsync(client.LocalEndPoint);
        for (var i = 0; i < 10; i++)
        {
            await client.SendAsync(new byte[100]);
            await client.ReceiveExactlyAsync(100);
        }

        await Poll.UntilAsync(() => h.Stage.GetStats().BytesSentTotal == 1000, "the echoes to be written");

        // No sample before the interval has passed; one at the interval.
        await h.AdvanceAsync(interval - TimeSpan.FromMilliseconds(1));
        Assert.False(stats.TryRead(out _));
        time.Advance(TimeSpan.FromMilliseconds(1));
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        var last = await stats.ReadAsync(cts.Token);

        Assert.Equal(h.Stage.Name, last.Stage);
        Assert.Equal(1, last.ConnectionsNow);
        Assert.Equal(1, last.AcceptedTotal);
        Assert.Equal(1000, last.BytesReceivedTotal);
        Assert.Equal(10, last.PacketsReceivedTotal);
        Assert.Equal(1000, last.BytesSentTotal);
        Assert.Equal(10, last.PacketsSentTotal);
        Assert.Equal(10, last.GroupsPublishedTotal);
        // The measured time since the previous sample (the start): on a fake clock, exactly the interval.
        Assert.Equal(interval, last.Interval);
        Assert.Equal(10_000, last.BytesReceivedPerSecond, 6);

        // With no traffic, the next sample's rates are zero.
        time.Advance(interval);
        var idle = await stats.ReadAsync(cts.Token);
        Assert.Equal(interval, idle.Interval);
        Assert.Equal(0, idle.BytesReceivedPerSecond);
        Assert.Equal(0, idle.PacketsSentPerSecond);
        Assert.Equal(1000, idle.BytesSentTotal);
    }

    [Fact]
    public async Task Rates_are_per_second_over_the_interval()
    {
        var time = new StageTime();
        await using var h = new FerryTestServer(new TcpServerStageOptions { StatsInterval = TimeSpan.FromMilliseconds(200) }.On(Transport), time: time);
        await h.StartAsync();
        using var client = await h.ConnectAsync();
        await h.WaitForConnectionAsync(client.LocalEndPoint);
        var samples = new List<SocketStats>();
        h.Stage.StatsPublished += (_, s) => { lock (samples) samples.Add(s); };
        await client.SendAsync(new byte[5000]);
        await Poll.UntilAsync(() => h.Stage.GetStats().BytesReceivedTotal == 5000, "the bytes to be read");
        time.Advance(TimeSpan.FromMilliseconds(200));
        await Poll.UntilAsync(() => { lock (samples) return samples.Any(s => s.BytesReceivedPerSecond > 0); }, "a sample with traffic");
        SocketStats busy;
        lock (samples)
            busy = samples.First(s => s.BytesReceivedPerSecond > 0);
        var expected = 5000 / busy.Interval.TotalSeconds;
        Assert.InRange(busy.BytesReceivedPerSecond, expected * 0.999, expected * 1.001);
        Assert.Equal(TimeSpan.FromMilliseconds(200), busy.Interval);
        Assert.Equal(25_000, busy.BytesReceivedPerSecond, 6);
    }

    [Fact]
    public async Task Samples_keep_a_fixed_rate_and_a_late_one_does_not_shift_the_next()
    {
        var interval = TimeSpan.FromMilliseconds(100);
        var time = new StageTime();
        await using var h = new FerryTestServer(new TcpServerStageOptions { StatsInterval = interval }, time: time);
        var samples = new System.Collections.Concurrent.ConcurrentQueue<SocketStats>();
        h.Stage.StatsPublished += (_, s) => samples.Enqueue(s);
        await h.StartAsync();
        var start = time.GetUtcNow();

        await time.AdvanceInStepsAsync(TimeSpan.FromMilliseconds(300), TimeSpan.FromMilliseconds(25), h);
        Assert.Equal([100.0, 200, 300], samples.Select(s => (s.Time - start).TotalMilliseconds));

        // The loop wakes 30 ms late for the next sample (due at 400): the one after is still due at 500.
        await h.AdvanceAsync(TimeSpan.FromMilliseconds(130));
        await h.AdvanceAsync(TimeSpan.FromMilliseconds(69));
        Assert.Equal(4, samples.Count);
        await h.AdvanceAsync(TimeSpan.FromMilliseconds(1));
        Assert.Equal([100.0, 200, 300, 430, 500], samples.Select(s => (s.Time - start).TotalMilliseconds));
        Assert.Equal([100.0, 100, 100, 130, 70], samples.Select(s => s.Interval.TotalMilliseconds));
    }
}
