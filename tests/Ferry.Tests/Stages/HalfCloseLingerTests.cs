using Ferry.Connections;
using Ferry.Stages;
using Ferry.Tests.Support;
using Ferry.Transport;

namespace Ferry.Tests.Stages;

/// <summary>
/// <c>half_close_linger</c>: a client that sends its request, shuts down its side (a FIN) and then reads gets an
/// answer that comes later through the bus, for as long as the linger; without it (the default) the connection
/// closes as soon as what was queued when the FIN came is written.
/// </summary>
public abstract class HalfCloseLingerTests(StageTransport transport)
{
    /// <summary>These tests on the epoll transport.</summary>
    public sealed class OnEpoll() : HalfCloseLingerTests(StageTransport.Epoll);

    /// <summary>These tests on the portable stream transport.</summary>
    public sealed class OnStream() : HalfCloseLingerTests(StageTransport.Stream);

    private static readonly TimeSpan Linger = TimeSpan.FromSeconds(5);
    // The scanner looks a few times per shortest deadline (here the linger: every 625 ms).
    private static readonly TimeSpan Scan = TimeSpan.FromMilliseconds(5000 / 8);

    private async Task<(FerryTestServer Server, StageTime Time)> StartAsync(TimeSpan linger, TimeSpan idle = default)
    {
        var time = new StageTime();
        var h = new FerryTestServer(new TcpServerStageOptions { HalfCloseLinger = linger, IdleTimeout = idle }.On(transport), time: time);
        await h.StartAsync();
        return (h, time);
    }

    private static async Task<(FramedTestClient Client, ConnectionId Id)> RequestThenFinishAsync(FerryTestServer h)
    {
        var client = await h.ConnectAsync();
        var id = (await h.WaitForConnectionAsync(client.LocalEndPoint)).ConnectionId;
        await client.SendAsync("request");
        await h.WaitForPacketAsync(p => p.Connection == id);
        client.Socket.Shutdown(System.Net.Sockets.SocketShutdown.Send);
        // The linger runs from when the stage reads the FIN, not from the shutdown: on the stream transport that
        // read completes on its own, so fake time must not move before it (else the linger starts late).
        await Poll.UntilAsync(() => h.Stage.Core.Table.Snapshot().SingleOrDefault(c => c.Id == id) is not { } c || Volatile.Read(ref c.PeerFinished),
            "the stage to read the client's FIN");
        return (client, id);
    }

    private static async Task AnswerAsync(FerryTestServer h, ConnectionId id, string text)
        => await h.Bus.Topic<EgressMessage>(StageTopics.EgressPackets(h.Stage.Name)).PublishAsync(EgressMessage.To(id, System.Text.Encoding.UTF8.GetBytes(text)));

    [Fact]
    public async Task An_answer_that_comes_after_the_clients_FIN_reaches_it_within_the_linger_then_the_connection_closes()
    {
        var (h, time) = await StartAsync(Linger);
        await using var _ = h;
        var (client, id) = await RequestThenFinishAsync(h);
        using var __ = client;

        // The FIN is seen (nothing more is read), the connection stays open: one millisecond before the linger ends.
        await Poll.UntilAsync(() => h.Stage.GetConnections().SingleOrDefault(c => c.Id == id) is not null, "the connection listed");
        await h.SettleAsync();
        await h.AdvanceAsync(Linger - TimeSpan.FromMilliseconds(1));
        Assert.DoesNotContain(h.Events.OfType<DisconnectedEvent>(), d => d.ConnectionId == id);

        // An answer from the bus now still reaches the client.
        await AnswerAsync(h, id, "answer");
        Assert.Equal("answer", System.Text.Encoding.UTF8.GetString(await client.ReceiveExactlyAsync("answer".Length)));

        // Past the linger, the next scan closes it: the client reads its end.
        time.Advance(TimeSpan.FromMilliseconds(1) + Scan);
        var gone = await h.WaitForDisconnectAsync(id);
        Assert.Equal(DisconnectReason.RemoteClosed, gone.Reason);
        Assert.Contains("half_close_linger (5000 ms) is over", gone.Detail);
        Assert.True(await client.WaitClosedAsync());
        Assert.Equal(0, h.Stage.GetStats().EgressBytesDroppedTotal);
    }

    [Fact]
    public async Task Without_a_linger_the_connection_closes_at_the_FIN_and_a_later_answer_finds_nobody()
    {
        var (h, _) = await StartAsync(TimeSpan.Zero);
        await using var __ = h;
        var (client, id) = await RequestThenFinishAsync(h);
        using var ___ = client;
        Assert.Equal(DisconnectReason.RemoteClosed, (await h.WaitForDisconnectAsync(id)).Reason);
        Assert.True(await client.WaitClosedAsync());
    }

    [Fact]
    public async Task The_idle_timeout_does_not_cut_a_linger_short()
    {
        // A client that finished sending never sends again: the linger is its deadline, not idle_timeout.
        var (h, time) = await StartAsync(Linger, idle: TimeSpan.FromSeconds(1));
        await using var _ = h;
        var (client, id) = await RequestThenFinishAsync(h);
        using var __ = client;
        await h.SettleAsync();
        await time.AdvanceInStepsAsync(TimeSpan.FromSeconds(4), TimeSpan.FromMilliseconds(250), h);
        Assert.DoesNotContain(h.Events.OfType<DisconnectedEvent>(), d => d.ConnectionId == id);
        await AnswerAsync(h, id, "late");
        Assert.Equal("late", System.Text.Encoding.UTF8.GetString(await client.ReceiveExactlyAsync(4)));
    }

    [Fact]
    public async Task A_client_that_sends_nothing_after_its_FIN_waits_only_the_linger_even_with_an_answer_queued_at_the_end()
    {
        // An answer queued before the linger ends is written, and the connection then closes (not dropped, not kept).
        var (h, time) = await StartAsync(Linger);
        await using var _ = h;
        var (client, id) = await RequestThenFinishAsync(h);
        using var __ = client;
        await h.SettleAsync();
        await h.AdvanceAsync(Linger - TimeSpan.FromMilliseconds(1));
        await AnswerAsync(h, id, "last");
        time.Advance(TimeSpan.FromMilliseconds(1) + Scan);
        Assert.Equal("last", System.Text.Encoding.UTF8.GetString(await client.ReceiveExactlyAsync(4)));
        Assert.Equal(DisconnectReason.RemoteClosed, (await h.WaitForDisconnectAsync(id)).Reason);
        Assert.True(await client.WaitClosedAsync());
    }

    [Theory]
    [InlineData(-1)]
    [InlineData(0.5)]
    [InlineData(3_600_001)]
    public void A_linger_outside_1ms_to_1h_is_refused_with_the_allowed_range(double ms)
    {
        var ex = Assert.Throws<StageOptionsException>(() => new TcpServerStageOptions { HalfCloseLinger = TimeSpan.FromMilliseconds(ms) }.Validate());
        Assert.Contains("TcpServerStageOptions.HalfCloseLinger", Assert.Single(ex.Problems));
        Assert.Contains("must be 0 (close once what is queued is written) or from 1ms to 1h", ex.Problems[0]);
    }
}
