using System.Diagnostics;
using System.Net.Sockets;
using Ferry.Connections;
using Ferry.Stages;
using Ferry.Testing;
using Ferry.Tests.Support;
using Ferry.Transport;

namespace Ferry.Tests.Stages;

/// <summary>
/// <c>close_linger</c>: a connection the stage closes gracefully keeps its socket, after the FIN, until its peer closes too
/// (its bytes discarded meanwhile), for at most this long on the stage's clock; at most <c>max_connections</c> such sockets
/// linger at once, the oldest reset beyond it; the number lingering is in the stats.
/// </summary>
public abstract class CloseLingerTests(StageTransport transport)
{
    public sealed class OnEpoll() : CloseLingerTests(StageTransport.Epoll);

    public sealed class OnStream() : CloseLingerTests(StageTransport.Stream);

    private static readonly byte[] OneByte = [(byte)'x'];

    /// <summary>
    /// A client that connected, was closed by the stage and read the FIN; it neither closes nor stops sending. With
    /// <paramref name="lingering"/>, returns once the stage counts that many sockets lingering: the epoll transport sends the
    /// FIN before it counts the socket and takes its deadline on the stage clock, so a client that read the FIN could find it
    /// not counted yet, and a fake clock moved then moved the deadline with it (the linger outlived its limit).
    /// </summary>
    private static async Task<Socket> ClosedByTheStageAsync(FerryTestServer h, int? lingering = null)
    {
        var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await client.ConnectAsync(h.EndPoint);
        var id = (await h.WaitForConnectionAsync((System.Net.IPEndPoint)client.LocalEndPoint!)).ConnectionId;
        client.Send("hello\n"u8);
        Assert.True(h.Stage.Close(id));
        await h.WaitForDisconnectAsync(id);
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        Assert.Equal(0, await client.ReceiveAsync(new byte[16], SocketFlags.None, deadline.Token)); // the FIN
        client.Send("more\n"u8); // unread bytes: a plain close() now would answer them with a reset
        if (lingering is { } count)
            await Poll.UntilAsync(() => h.Stage.GetStats().LingeringNow == count, $"{count} sockets lingering");
        return client;
    }

    /// <summary>
    /// Whether the stage's end of <paramref name="client"/> is closed (not lingering) within <paramref name="window"/>: a byte
    /// sent to a closed socket is answered with a reset, and the next send fails. A lingering socket discards the bytes.
    /// </summary>
    private static async Task<bool> ResetWithinAsync(Socket client, TimeSpan window)
    {
        var clock = Stopwatch.StartNew();
        do
        {
            try
            {
                client.Send(OneByte);
            }
            catch (SocketException)
            {
                return true;
            }
            await Task.Delay(10);
        }
        while (clock.Elapsed < window);
        return false;
    }

    [Fact]
    public async Task A_peer_that_never_closes_is_let_go_when_the_stage_clock_passes_the_limit_and_not_before()
    {
        // The default limit (2 s): the test reads the end of the linger well within 2 s of real time, which only the stage's
        // (fake) clock can give; on the system clock (the old code) it came 2 s after the close.
        var time = new StageTime();
        await using var h = new FerryTestServer(new TcpServerStageOptions { Framing = Ferry.Framing.FramingSpec.Parse("lines") }.On(transport), time: time);
        await h.StartAsync();
        using var client = await ClosedByTheStageAsync(h, lingering: 1);

        time.Advance(TimeSpan.FromSeconds(2) - TimeSpan.FromMilliseconds(1));
        Assert.False(await ResetWithinAsync(client, TimeSpan.FromMilliseconds(150)), "the stage let go of the socket before close_linger was over");
        Assert.Equal(1, h.Stage.GetStats().LingeringNow);

        // The lingering closer sees the stage clock at its next look (a fixed 1.5 s of real time for that and the reset was
        // short under load): the socket let go, then its reset.
        time.Advance(TimeSpan.FromMilliseconds(1));
        await Poll.UntilAsync(() => h.Stage.GetStats().LingeringNow == 0, "the stage to let go of the socket at close_linger");
        Assert.True(await ResetWithinAsync(client, TimeSpan.FromSeconds(5)), "the stage still held the socket after close_linger");
    }

    [Fact]
    public async Task A_configured_limit_is_kept_on_the_stage_clock_and_the_lingering_socket_is_counted_until_then()
    {
        var time = new StageTime();
        var limit = TimeSpan.FromSeconds(30);
        await using var h = new FerryTestServer(new TcpServerStageOptions { CloseLinger = limit, Framing = Ferry.Framing.FramingSpec.Parse("lines") }.On(transport), time: time);
        await h.StartAsync();
        using var client = await ClosedByTheStageAsync(h, lingering: 1);

        time.Advance(limit - TimeSpan.FromMilliseconds(1));
        Assert.False(await ResetWithinAsync(client, TimeSpan.FromMilliseconds(150)));
        Assert.Equal(1, h.Stage.GetStats().LingeringNow);

        time.Advance(TimeSpan.FromMilliseconds(1));
        await Poll.UntilAsync(() => h.Stage.GetStats().LingeringNow == 0, "the lingering socket let go at the limit");
        Assert.True(await ResetWithinAsync(client, TimeSpan.FromSeconds(5)));
        Assert.Equal(0, h.Stage.GetStats().LingeringResetTotal);
    }

    [Fact]
    public async Task Beyond_max_connections_lingering_sockets_the_oldest_is_reset_and_the_count_goes_back_to_zero_as_peers_close()
    {
        // A minute on a clock that does not move: only the bound and the peers' own closes end a linger here.
        await using var h = new FerryTestServer(new TcpServerStageOptions
        {
            MaxConnections = 2,
            CloseLinger = TimeSpan.FromMinutes(1),
            Framing = Ferry.Framing.FramingSpec.Parse("lines"),
        }.On(transport), time: new StageTime());
        await h.StartAsync();
        using var oldest = await ClosedByTheStageAsync(h, lingering: 1);
        using var second = await ClosedByTheStageAsync(h, lingering: 2);

        // One more: the bound (max_connections, 2) is kept by resetting the one that lingered longest.
        using var third = await ClosedByTheStageAsync(h);
        Assert.True(await ResetWithinAsync(oldest, TimeSpan.FromSeconds(5)), "the oldest lingering socket was not reset");
        var stats = h.Stage.GetStats();
        Assert.Equal(2, stats.LingeringNow);
        Assert.Equal(1, stats.LingeringResetTotal);
        Assert.False(await ResetWithinAsync(second, TimeSpan.FromMilliseconds(100)), "a younger lingering socket was reset");

        // Their peers close: the lingering closes end, and nothing lingers any more.
        second.Close();
        third.Close();
        await Poll.UntilAsync(() => h.Stage.GetStats().LingeringNow == 0, "the lingering count back to 0");
        Assert.Equal(1, h.Stage.GetStats().LingeringResetTotal);
    }

    [Fact]
    public async Task With_no_linger_the_socket_is_closed_at_once_and_nothing_lingers()
    {
        await using var h = new FerryTestServer(new TcpServerStageOptions { CloseLinger = TimeSpan.Zero, Framing = Ferry.Framing.FramingSpec.Parse("lines") }.On(transport),
            time: new StageTime());
        await h.StartAsync();
        using var client = await ClosedByTheStageAsync(h);
        Assert.True(await ResetWithinAsync(client, TimeSpan.FromSeconds(5)));
        Assert.Equal(0, h.Stage.GetStats().LingeringNow);
    }
}

/// <summary>The option's own checks.</summary>
public sealed class CloseLingerOptionTests
{
    [Theory]
    [InlineData(-1)]
    [InlineData(0.5)]
    [InlineData(300_001)]
    public void A_close_linger_outside_1ms_to_5m_is_refused_with_the_allowed_range(double ms)
    {
        var ex = Assert.Throws<StageOptionsException>(() => new TcpServerStageOptions { CloseLinger = TimeSpan.FromMilliseconds(ms) }.Validate());
        Assert.Contains("TcpServerStageOptions.CloseLinger", Assert.Single(ex.Problems));
        Assert.Contains("must be 0 (close at once: a reset when the peer's bytes are unread) or from 1ms to 5m", ex.Problems[0]);
    }

    [Fact]
    public void A_client_stage_checks_it_the_same_way()
    {
        var ex = Assert.Throws<StageOptionsException>(() => new TcpClientStageOptions { Connect = "127.0.0.1:1", CloseLinger = TimeSpan.FromMinutes(6) }.Validate());
        Assert.Contains("TcpClientStageOptions.CloseLinger", Assert.Single(ex.Problems));
        Assert.Contains("from 1ms to 5m", ex.Problems[0]);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(300_000)]
    public void Zero_and_1ms_to_5m_are_taken(double ms)
        => new TcpServerStageOptions { CloseLinger = TimeSpan.FromMilliseconds(ms) }.Validate();

    [Fact]
    public void The_default_is_2s() => Assert.Equal(TimeSpan.FromSeconds(2), new TcpServerStageOptions().CloseLinger);
}
