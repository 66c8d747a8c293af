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
        await using var h = new StageHarness(new TcpServerStageOptions { StatsInterval = TimeSpan.FromMilliseconds(100) }.On(Transport));
        using var stats = h.Bus.Topic<SocketStats>(StageTopics.SocketStats(h.Stage.Name)).SubscribeQueue(capacity: 1000);
        h.Bus.Topic<PacketGroup>(StageTopics.PacketGroup(h.Stage.Name)).Subscribe(async (group, ct) =>
        {
            foreach (var p in group)
                await h.Bus.Topic<EgressMessage>(StageTopics.EgressPackets(h.Stage.Name)).PublishAsync(EgressMessage.To(p.ConnectionId, p.Payload), ct);
        });
        await h.StartAsync();
        using var client = await h.ConnectAsync();
        await h.WaitConnectedAsync(client.LocalEndPoint);
        for (var i = 0; i < 10; i++)
        {
            await client.SendAsync(new byte[100]);
            await client.ReceiveExactlyAsync(100);
        }

        SocketStats last = null!;
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        do
            last = await stats.ReadAsync(cts.Token);
        while (last.BytesSentTotal < 1000);

        Assert.Equal(h.Stage.Name, last.Stage);
        Assert.Equal(1, last.ConnectionsNow);
        Assert.Equal(1, last.AcceptedTotal);
        Assert.Equal(1000, last.BytesReceivedTotal);
        Assert.Equal(10, last.PacketsReceivedTotal);
        Assert.Equal(1000, last.BytesSentTotal);
        Assert.Equal(10, last.PacketsSentTotal);
        Assert.Equal(10, last.GroupsPublishedTotal);
        // The measured time since the previous sample: samples keep a fixed rate, so one that runs late
        // shortens the next interval; only its sign and scale are certain on a busy machine.
        Assert.InRange(last.Interval.TotalMilliseconds, 0.001, 5000);

        // With no traffic, the next sample's rates are zero.
        var idle = await stats.ReadAsync(cts.Token);
        while (idle.BytesReceivedPerSecond != 0)
            idle = await stats.ReadAsync(cts.Token);
        Assert.Equal(0, idle.PacketsSentPerSecond);
    }

    [Fact]
    public async Task Rates_are_per_second_over_the_interval()
    {
        await using var h = new StageHarness(new TcpServerStageOptions { StatsInterval = TimeSpan.FromMilliseconds(200) }.On(Transport));
        await h.StartAsync();
        using var client = await h.ConnectAsync();
        await h.WaitConnectedAsync(client.LocalEndPoint);
        var samples = new List<SocketStats>();
        h.Stage.StatsPublished += (_, s) => { lock (samples) samples.Add(s); };
        await client.SendAsync(new byte[5000]);
        await Eventually.TrueAsync(() => { lock (samples) return samples.Any(s => s.BytesReceivedPerSecond > 0); }, "a sample with traffic");
        SocketStats busy;
        lock (samples)
            busy = samples.First(s => s.BytesReceivedPerSecond > 0);
        var expected = 5000 / busy.Interval.TotalSeconds;
        Assert.InRange(busy.BytesReceivedPerSecond, expected * 0.999, expected * 1.001);
    }
}
