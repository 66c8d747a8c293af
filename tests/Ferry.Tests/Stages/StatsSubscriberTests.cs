using Ferry.Stages;
using Ferry.Tests.Support;

namespace Ferry.Tests.Stages;

/// <summary>
/// A <c>socket_stats</c> subscriber that does not take its samples (a queue nobody reads) is not waited for: each sample
/// supersedes the one before, so the stage skips samples and goes on serving. Before, the stage's thread waited for room in
/// that queue, and every socket of the stage stopped being read (a new client's connect was never taken), without a word.
/// </summary>
public abstract class StatsSubscriberTests(Ferry.Transport.StageTransport transport)
{
    /// <summary>These tests on the epoll transport.</summary>
    public sealed class OnEpoll() : StatsSubscriberTests(Ferry.Transport.StageTransport.Epoll);

    /// <summary>These tests on the portable stream transport.</summary>
    public sealed class OnStream() : StatsSubscriberTests(Ferry.Transport.StageTransport.Stream);

    [Fact]
    public async Task A_stats_queue_nobody_reads_skips_samples_and_the_stage_goes_on()
    {
        var interval = TimeSpan.FromSeconds(1);
        await using var h = new FerryTestServer(new TcpServerStageOptions
        {
            StatsInterval = interval,
            Framing = Ferry.Framing.FramingSpec.Parse("lines"),
        }.On(transport), time: new StageTime());
        using var stats = h.Bus.Topic<SocketStats>(StageTopics.SocketStats(h.Stage.Name)).SubscribeQueue(capacity: 1);
        await h.StartAsync();
        using var first = await h.ConnectAsync();
        await h.WaitForConnectionAsync(first);

        // The first sample fills the queue, the second waits for room, the ones after are skipped.
        for (var i = 0; i < 4; i++)
            await h.AdvanceAsync(interval);
        var said = await h.WaitForEventAsync<StageErrorEvent>(e => e.Kind == StageErrorKind.Handler);
        Assert.StartsWith("a socket_stats subscriber has not taken the last sample", said.Message);
        Assert.Single(h.Events.OfType<StageErrorEvent>(), e => e.Kind == StageErrorKind.Handler);

        // The stage still reads and accepts.
        await first.SendAsync("still read\n");
        await h.WaitForPacketAsync(p => p.Text == "still read");
        using var second = await h.ConnectAsync();
        await h.WaitForConnectionAsync(second);

        // Once the reader takes what it has, samples flow again, with the latest figures. The publish that waited ends on a
        // pool thread, so a sample or two may still be skipped: the clock moves on until one comes (bounded).
        using var read = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        await using var samples = stats.GetAsyncEnumerator(read.Token);
        Assert.True(await samples.MoveNextAsync());
        Assert.True(await samples.MoveNextAsync()); // the sample that waited for room
        var next = samples.MoveNextAsync().AsTask();
        for (var i = 0; i < 100 && !next.IsCompleted; i++)
        {
            await h.AdvanceAsync(interval);
            await Task.WhenAny(next, Task.Delay(10));
        }
        Assert.True(await next);
        Assert.Equal(2, samples.Current.ConnectionsNow);
    }
}
