using System.Net.Sockets;
using Ferry.Tests.Support;

namespace Ferry.Tests.Cli;

/// <summary>
/// A client of a reply proxy that finishes sending (a FIN after its requests: <c>nc -N</c>, <c>socat</c>) is closed as soon as
/// every answer owed to it is written, not at the end of <c>half_close_linger</c>; it lingers only while it is owed one.
/// The linger here is 5 minutes of a fake clock that never moves: on the old code these clients were never closed.
/// </summary>
public sealed class Proxy2HalfCloseTests
{
    private static readonly TimeSpan Linger = TimeSpan.FromMinutes(5);

    [Fact]
    public async Task A_half_closed_client_is_closed_once_its_last_answer_is_written()
    {
        await using var rig = new Proxy2Rig("p2fin", halfCloseLinger: Linger);
        await rig.StartAsync();
        await using var a = await rig.ConnectClientAsync();
        await a.SendAsync("a0\na1\n");
        a.Socket.Shutdown(SocketShutdown.Send);
        Assert.Equal("a0", await rig.UpstreamReadsAsync());
        Assert.Equal("a1", await rig.UpstreamReadsAsync());

        await rig.UpstreamAnswersAsync("A0\n");
        Assert.Equal("A0", (await a.ReceiveMessageAsync()).Text);
        // Still owed A1: it lingers.
        await rig.Time.SettleAsync(rig.Front);
        Assert.Equal(1, rig.Front.ConnectionCount);

        await rig.UpstreamAnswersAsync("A1\n");
        Assert.Equal("A1", (await a.ReceiveMessageAsync()).Text);
        Assert.True(await a.WaitClosedAsync(Proxy2Rig.Deadline), "the half-closed client was not closed once owed nothing");
        Assert.Empty(rig.Losses);
    }

    [Fact]
    public async Task A_client_that_finishes_sending_when_owed_nothing_is_closed_at_once()
    {
        await using var rig = new Proxy2Rig("p2fin0", halfCloseLinger: Linger);
        await rig.StartAsync();
        await using var a = await rig.ConnectClientAsync();
        await a.SendAsync("a0\n");
        Assert.Equal("a0", await rig.UpstreamReadsAsync());
        await rig.UpstreamAnswersAsync("A0\n");
        Assert.Equal("A0", (await a.ReceiveMessageAsync()).Text);

        a.Socket.Shutdown(SocketShutdown.Send);
        Assert.True(await a.WaitClosedAsync(Proxy2Rig.Deadline), "a client owed nothing lingered after its FIN");
    }

    [Fact]
    public async Task A_request_sent_with_the_fin_is_still_answered()
    {
        await using var rig = new Proxy2Rig("p2finreq", halfCloseLinger: Linger);
        await rig.StartAsync();
        await using var a = await rig.ConnectClientAsync();
        await a.SendAsync("a0\n");
        a.Socket.Shutdown(SocketShutdown.Send);
        Assert.Equal("a0", await rig.UpstreamReadsAsync());
        await rig.Time.SettleAsync(rig.Front);
        Assert.Equal(1, rig.Front.ConnectionCount);

        await rig.UpstreamAnswersAsync("A0\n");
        Assert.Equal("A0", (await a.ReceiveMessageAsync()).Text);
        Assert.True(await a.WaitClosedAsync(Proxy2Rig.Deadline));
    }
}
