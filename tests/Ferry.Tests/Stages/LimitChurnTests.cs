using System.Net;
using System.Net.Sockets;
using Ferry.Connections;
using Ferry.Stages;
using Ferry.Tests.Support;
using Ferry.Transport;
using Microsoft.Extensions.Time.Testing;

namespace Ferry.Tests.Stages;

/// <summary>
/// A connection that meets a full limit waits one round of the stage for its verdict (the Acceptor parks it), and a genuine
/// limit still refuses a crowd at once after that round.
/// </summary>
public abstract class LimitChurnTests(StageTransport transport)
{
    /// <summary>These tests on the epoll transport.</summary>
    public sealed class OnEpoll() : LimitChurnTests(StageTransport.Epoll);

    /// <summary>These tests on the portable stream transport.</summary>
    public sealed class OnStream() : LimitChurnTests(StageTransport.Stream);

    [Fact]
    public async Task A_genuine_limit_still_refuses_a_crowd_and_keeps_the_connection_it_has()
    {
        await using var h = new FerryTestServer(new TcpServerStageOptions { MaxConnections = 1 }.On(transport));
        await h.StartAsync();
        using var kept = await h.ConnectAsync();
        await h.WaitForConnectionAsync(kept);
        var crowd = new List<Socket>();
        try
        {
            for (var i = 0; i < 20; i++)
            {
                var s = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                crowd.Add(s);
                try
                {
                    await s.ConnectAsync(h.EndPoint);
                }
                catch (SocketException e) when (e.SocketErrorCode is SocketError.ConnectionReset or SocketError.Shutdown)
                {
                    // refused before the connect returned
                }
            }
            // A refusal is counted before its Disconnected event is raised: the count can reach 20 while the last event is
            // still to come, so both are awaited, then checked exactly.
            await Poll.UntilAsync(() => h.Stage.GetStats().RejectedTotal == 20 && h.Events.OfType<DisconnectedEvent>().Count(e => e.Reason == DisconnectReason.Limit) == 20,
                "the 20 over the limit refused", seen: () => $"{h.Stage.GetStats().RejectedTotal} rejected, {h.Events.OfType<DisconnectedEvent>().Count(e => e.Reason == DisconnectReason.Limit)} limit events");
            Assert.Equal(20, h.Stage.GetStats().RejectedTotal);
            Assert.Equal(20, h.Events.OfType<DisconnectedEvent>().Count(e => e.Reason == DisconnectReason.Limit));
            Assert.Equal(1, h.Stage.ConnectionCount);
            await kept.SendAsync("still here");
            await h.WaitForPacketAsync();
        }
        finally
        {
            crowd.ForEach(s => s.Dispose());
        }
    }
}

/// <summary>
/// A client that has hung up holds no place under a connection limit, even when its hang-up and the next client's connect
/// reach the stage in the same round: the limit is read only after the round's hang-ups are taken. On epoll, which reports
/// a hang-up in the very next wait (the stream transport's timed wait is <see cref="LimitChurnOnStreamTests"/>).
/// </summary>
public sealed class LimitChurnOnEpollTests
{
    /// <summary>
    /// Connects <c>first</c>, and holds the stage's thread in its Connected handler while the next client connects and
    /// only then <c>first</c> resets: the stage's next round sees the new client before the hang-up.
    /// </summary>
    private static async Task<(Socket Next, ConnectionId FirstId)> ResetWhileTheNextConnectsAsync(FerryTestServer h, IPEndPoint server)
    {
        using var held = new ManualResetEventSlim();
        var firstId = new TaskCompletionSource<ConnectionId>(TaskCreationOptions.RunContinuationsAsynchronously);
        void Hold(object? sender, ConnectedEvent e)
        {
            if (!firstId.Task.IsCompleted)
            {
                firstId.TrySetResult(e.ConnectionId);
                held.Wait(TimeSpan.FromSeconds(10)); // bounded: a failing test must not hang the stage
            }
        }
        h.Stage.Connected += Hold;
        var first = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await first.ConnectAsync(server);
        var id = await firstId.Task.WaitAsync(TimeSpan.FromSeconds(10));
        h.Stage.Connected -= Hold;

        // The kernel completes the next connect on its own (it waits in the backlog); then the first resets.
        var next = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await next.ConnectAsync(server);
        first.LingerState = new LingerOption(true, 0);
        first.Dispose();
        held.Set();
        return (next, id);
    }

    [Fact]
    public async Task A_client_connecting_as_the_only_other_one_resets_is_taken_under_max_connections_one()
    {
        await using var h = new FerryTestServer(new TcpServerStageOptions { MaxConnections = 1 }.On(StageTransport.Epoll));
        await h.StartAsync();
        for (var round = 0; round < 5; round++)
        {
            var (next, firstId) = await ResetWhileTheNextConnectsAsync(h, h.EndPoint);
            using (next)
            {
                await h.WaitForDisconnectAsync(firstId);
                var taken = await h.WaitForConnectionAsync((IPEndPoint)next.LocalEndPoint!);
                Assert.Equal(0, h.Stage.GetStats().RejectedTotal);
                next.LingerState = new LingerOption(true, 0);
                next.Close();
                await h.WaitForDisconnectAsync(taken.ConnectionId);
            }
        }
        Assert.DoesNotContain(h.Events.OfType<DisconnectedEvent>(), e => e.Reason == DisconnectReason.Limit);
    }

    [Fact]
    public async Task A_client_connecting_as_the_only_other_one_from_its_address_resets_is_taken_under_max_connections_per_ip_one()
    {
        await using var h = new FerryTestServer(new TcpServerStageOptions { MaxConnectionsPerIp = 1 }.On(StageTransport.Epoll));
        await h.StartAsync();
        var (next, firstId) = await ResetWhileTheNextConnectsAsync(h, h.EndPoint);
        using (next)
        {
            await h.WaitForDisconnectAsync(firstId);
            await h.WaitForConnectionAsync((IPEndPoint)next.LocalEndPoint!);
        }
        Assert.DoesNotContain(h.Events.OfType<DisconnectedEvent>(), e => e.Reason == DisconnectReason.IpLimit);
    }
}

/// <summary>
/// The stream transport learns of a hang-up from the read its pool thread has pending, which may reach the stage after a
/// client that connected later: a newcomer that meets a full limit waits for a place until one closes or the transport's
/// wait (50 ms of the stage clock) has passed. On a fake clock that wait lasts until the test moves the clock, so the order
/// of the two is the test's: the newcomer is seen waiting first, and only then does the other hang up.
/// </summary>
public sealed class LimitChurnOnStreamTests
{
    private static TimeSpan LimitWait => TimeSpan.FromMilliseconds(50);

    private static async Task<(FerryTestServer Server, FakeTimeProvider Time)> StartAsync(TcpServerStageOptions options)
    {
        var time = new FakeTimeProvider(DateTimeOffset.UnixEpoch);
        var h = new FerryTestServer(options.On(StageTransport.Stream), time: time);
        await h.StartAsync();
        return (h, time);
    }

    private static Task WaitForParksAsync(FerryTestServer h, int parks)
        => Poll.UntilAsync(() => h.Stage.LimitParksForTest >= parks, $"{parks} newcomer(s) waiting at the limit", seen: () => $"{h.Stage.LimitParksForTest} parked");

    private static async Task<Socket> ConnectAsync(FerryTestServer h)
    {
        var s = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await s.ConnectAsync(h.EndPoint);
        return s;
    }

    /// <summary>A connect that may be refused (reset) before it returns: the stage refuses at once.</summary>
    private static async Task<Socket> ConnectToBeRefusedAsync(FerryTestServer h)
    {
        var s = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            await s.ConnectAsync(h.EndPoint);
        }
        catch (SocketException e) when (e.SocketErrorCode is SocketError.ConnectionReset or SocketError.Shutdown)
        {
            // refused before the connect returned
        }
        return s;
    }

    private static void Reset(Socket s)
    {
        s.LingerState = new LingerOption(true, 0);
        s.Dispose();
    }

    private static int Refusals(FerryTestServer h, DisconnectReason reason) => h.Events.OfType<DisconnectedEvent>().Count(e => e.Reason == reason);

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_client_waiting_at_the_limit_is_taken_when_the_one_before_it_hangs_up_later(bool perAddress)
    {
        var (h, _) = await StartAsync(perAddress ? new TcpServerStageOptions { MaxConnectionsPerIp = 1 } : new TcpServerStageOptions { MaxConnections = 1 });
        await using var _ = h;
        var first = await ConnectAsync(h);
        var firstId = (await h.WaitForConnectionAsync((IPEndPoint)first.LocalEndPoint!)).ConnectionId;

        using var next = await ConnectAsync(h);
        await WaitForParksAsync(h, 1);
        // Waiting, and not refused: the clock has not moved, however many rounds the stage runs meanwhile.
        Reset(first);
        await h.WaitForDisconnectAsync(firstId);
        var taken = await h.WaitForConnectionAsync((IPEndPoint)next.LocalEndPoint!);

        Assert.Equal(0, h.Stage.GetStats().RejectedTotal);
        Assert.Equal(0, Refusals(h, perAddress ? DisconnectReason.IpLimit : DisconnectReason.Limit));
        Assert.Equal(1, h.Stage.ConnectionCount);
        Assert.Equal(taken.ConnectionId, Assert.Single(h.Stage.GetConnections()).Id);
    }

    [Fact]
    public async Task A_genuine_limit_refuses_after_the_wait_then_at_once_until_a_place_frees()
    {
        var (h, time) = await StartAsync(new TcpServerStageOptions { MaxConnections = 1 });
        await using var _ = h;
        using var kept = await h.ConnectAsync();
        await h.WaitForConnectionAsync(kept);

        using var waiting = await ConnectAsync(h);
        await WaitForParksAsync(h, 1);
        Assert.Equal(0, h.Stage.GetStats().RejectedTotal);
        time.Advance(LimitWait);
        await Poll.UntilAsync(() => Refusals(h, DisconnectReason.Limit) == 1, "the waiting client refused once its wait is over");

        // Nobody has left since: the next one is refused at once, without a wait (the clock stays where it is).
        using var crowd = await ConnectToBeRefusedAsync(h);
        await Poll.UntilAsync(() => Refusals(h, DisconnectReason.Limit) == 2, "the next one refused at once");
        Assert.Equal(1, h.Stage.LimitParksForTest);

        // A place freed: the next newcomer is taken, and one after it waits again rather than being refused at once.
        var keptId = Assert.Single(h.Stage.GetConnections()).Id;
        kept.Dispose();
        await h.WaitForDisconnectAsync(keptId);
        using var later = await ConnectAsync(h);
        await h.WaitForConnectionAsync((IPEndPoint)later.LocalEndPoint!);
        using var after = await ConnectAsync(h);
        await WaitForParksAsync(h, 2);
        Assert.Equal(2, Refusals(h, DisconnectReason.Limit));
        Assert.Equal(1, h.Stage.ConnectionCount);
    }
}
