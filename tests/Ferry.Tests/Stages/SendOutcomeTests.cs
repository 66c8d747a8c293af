using System.Net;
using System.Net.Sockets;
using Ferry.Connections;
using Ferry.Stages;
using Ferry.Tests.Support;
using Ferry.Transport;

namespace Ferry.Tests.Stages;

/// <summary>
/// <see cref="TcpServerStage.SendWithOutcomeAsync"/>: a send to one connection, any one, a group or everyone says whether it was
/// queued, found no open connection, or was dropped by the overflow policy, under each policy, decided as the message is handed over.
/// </summary>
public abstract class SendOutcomeTests(StageTransport transport)
{
    /// <summary>These tests on the epoll transport.</summary>
    public sealed class OnEpoll() : SendOutcomeTests(StageTransport.Epoll);

    /// <summary>These tests on the portable stream transport.</summary>
    public sealed class OnStream() : SendOutcomeTests(StageTransport.Stream);

    private StageTransport Transport => transport;

    private static readonly TimeSpan WaitTimeout = TimeSpan.FromSeconds(10);

    private TcpServerStageOptions Small(EgressOverflowPolicy policy) => new TcpServerStageOptions
    {
        EgressBufferBytes = 32 * 1024,
        EgressOverflow = policy,
        EgressWaitTimeout = WaitTimeout,
        Socket = new TcpSocketOptions { SendBufferSize = 8 * 1024 },
    }.On(Transport);

    /// <summary>A client that never reads, its window small from the start, so the kernel soon stops taking the stage's bytes.</summary>
    private static async Task<(Socket Client, ConnectionId Id)> ConnectStalledAsync(FerryTestServer h)
    {
        var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { ReceiveBufferSize = 4096 };
        await client.ConnectAsync(h.EndPoint);
        return (client, (await h.WaitForConnectionAsync((IPEndPoint)client.LocalEndPoint!)).ConnectionId);
    }

    /// <summary>
    /// Sends until a message is not queued (bounded: 4 MB, far more than the 32 KiB buffer and both socket buffers) and
    /// returns that outcome. Under wait, a send that waits for room is let time out on the fake clock.
    /// </summary>
    private static async Task<(SendOutcome Outcome, int Queued)> FillAsync(FerryTestServer h, EgressMessage message, StageTime? time = null)
    {
        for (var queued = 0; queued < 4000; queued++)
        {
            var sending = h.Stage.SendWithOutcomeAsync(message).AsTask();
            if (!sending.IsCompleted && time is not null)
                time.Advance(WaitTimeout);
            // Off the thread that completed the send: a wait's timeout on the fake clock may fire on the stage's service
            // thread (its loop timer moves with the clock), and a loop continued there never waits.
            var outcome = await sending.WaitAsync(TimeSpan.FromSeconds(30)).ConfigureAwait(ConfigureAwaitOptions.ForceYielding | ConfigureAwaitOptions.ContinueOnCapturedContext);
            if (outcome != SendOutcome.Queued)
                return (outcome, queued);
        }
        throw new InvalidOperationException("4000 messages of 1000 bytes were all queued for a client that does not read");
    }

    [Theory]
    [InlineData(EgressOverflowPolicy.Drop)]
    [InlineData(EgressOverflowPolicy.Disconnect)]
    [InlineData(EgressOverflowPolicy.Wait)]
    public async Task A_message_to_an_open_connection_is_queued_and_to_a_closed_or_unknown_one_finds_no_connection(EgressOverflowPolicy policy)
    {
        await using var h = new FerryTestServer(Small(policy));
        await h.StartAsync();
        var client = await h.ConnectAsync();
        var id = (await h.WaitForConnectionAsync(client.LocalEndPoint)).ConnectionId;

        Assert.Equal(SendOutcome.Queued, await h.Stage.SendWithOutcomeAsync(EgressMessage.To(id, "one"u8.ToArray())));
        Assert.Equal(SendOutcome.Queued, await h.Stage.SendWithOutcomeAsync(EgressMessage.ToAny("any"u8.ToArray())));
        Assert.Equal("oneany"u8.ToArray(), await client.ReceiveExactlyAsync(6));

        client.Dispose();
        await h.WaitForDisconnectAsync(id);
        Assert.Equal(SendOutcome.NoConnection, await h.Stage.SendWithOutcomeAsync(EgressMessage.To(id, "late"u8.ToArray())));
        Assert.Equal(SendOutcome.NoConnection, await h.Stage.SendWithOutcomeAsync(EgressMessage.To(new ConnectionId(1, 999), "never"u8.ToArray())));
        Assert.Equal(SendOutcome.NoConnection, await h.Stage.SendWithOutcomeAsync(EgressMessage.ToAny("nobody"u8.ToArray())));
        var stats = h.Stage.GetStats();
        Assert.Equal(2, stats.EgressUnknownTargetTotal); // the two to one connection; the one to any is a broadcast to nobody:
        Assert.Equal(1, stats.EgressPacketsDroppedTotal); // dropped, as queue_when_disconnected is off
    }

    [Theory]
    [InlineData(EgressOverflowPolicy.Drop)]
    [InlineData(EgressOverflowPolicy.Wait)]
    public async Task A_connection_closing_now_is_no_connection_though_its_disconnected_event_is_still_being_raised(EgressOverflowPolicy policy)
    {
        // What the NATS gateway met: it learns of a closed connection from the disconnected event, which comes after the
        // connection has left the stage. A send in that moment (here: from a handler of that very event) must say
        // "no connection", not "dropped", without anyone having to look again afterwards.
        await using var h = new FerryTestServer(Small(policy));
        var inHandler = new TaskCompletionSource<Task<SendOutcome>>(TaskCreationOptions.RunContinuationsAsynchronously);
        h.Stage.Disconnected += (_, e) => inHandler.TrySetResult(h.Stage.SendWithOutcomeAsync(EgressMessage.To(e.ConnectionId, "bye"u8.ToArray())).AsTask());
        await h.StartAsync();
        var client = await h.ConnectAsync();
        var id = (await h.WaitForConnectionAsync(client.LocalEndPoint)).ConnectionId;

        client.Dispose();
        var sent = await inHandler.Task.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.True(sent.IsCompleted, "a send to a connection that has left the stage waited");
        Assert.Equal(SendOutcome.NoConnection, await sent);
        Assert.Equal(1, h.Stage.GetStats().EgressUnknownTargetTotal);
        Assert.Equal(0, h.Stage.GetStats().EgressPacketsDroppedTotal);
    }

    [Theory]
    [InlineData(EgressOverflowPolicy.Drop)]
    [InlineData(EgressOverflowPolicy.Wait)]
    public async Task A_connection_still_in_its_handshake_is_no_connection_for_one_and_for_any(EgressOverflowPolicy policy)
    {
        // A ZMTP peer that has not sent its greeting: the connection is in the table, not established.
        await using var h = new FerryTestServer(Small(policy) with { Framing = Ferry.Framing.FramingSpec.Parse("zmtp,socket=push") });
        await h.StartAsync();
        using var peer = new Socket(SocketType.Stream, ProtocolType.Tcp);
        await peer.ConnectAsync(h.EndPoint);
        await Poll.UntilAsync(() => h.Stage.GetConnections().Count == 1, "the connection to be taken");
        var id = h.Stage.GetConnections().Single().Id;

        Assert.Equal(SendOutcome.NoConnection, await h.Stage.SendWithOutcomeAsync(EgressMessage.To(id, "too early"u8.ToArray())));
        Assert.Equal(SendOutcome.NoConnection, await h.Stage.SendWithOutcomeAsync(EgressMessage.ToAny("too early"u8.ToArray())));
    }

    [Fact]
    public async Task Drop_a_full_buffer_is_dropped_and_the_client_stays()
    {
        await using var h = new FerryTestServer(Small(EgressOverflowPolicy.Drop));
        await h.StartAsync();
        var (client, id) = await ConnectStalledAsync(h);
        using (client)
        {
            var (outcome, queued) = await FillAsync(h, EgressMessage.To(id, new byte[1000]));
            Assert.Equal(SendOutcome.Dropped, outcome);
            Assert.True(queued >= 32, $"{queued} queued");
            // Any one: the only connection is full, so the policy drops it once.
            Assert.Equal(SendOutcome.Dropped, (await FillAsync(h, EgressMessage.ToAny(new byte[1000]))).Outcome);
            Assert.Equal(2, h.Stage.GetStats().EgressPacketsDroppedTotal);
            Assert.Equal(0, h.Stage.GetStats().EgressUnknownTargetTotal);
            Assert.Equal(1, h.Stage.ConnectionCount);
        }
    }

    [Fact]
    public async Task Disconnect_the_message_that_closes_the_slow_client_is_dropped_not_no_connection()
    {
        await using var h = new FerryTestServer(Small(EgressOverflowPolicy.Disconnect));
        await h.StartAsync();
        var (client, id) = await ConnectStalledAsync(h);
        using (client)
        {
            Assert.Equal(SendOutcome.Dropped, (await FillAsync(h, EgressMessage.To(id, new byte[1000]))).Outcome);
            Assert.Equal(DisconnectReason.SlowConsumer, (await h.WaitForDisconnectAsync(id)).Reason);
            Assert.Equal(0, h.Stage.GetStats().EgressUnknownTargetTotal);
            // Once it has closed, it is no connection.
            Assert.Equal(SendOutcome.NoConnection, await h.Stage.SendWithOutcomeAsync(EgressMessage.To(id, new byte[1000])));
        }
    }

    [Fact]
    public async Task Disconnect_a_message_to_a_client_being_closed_as_slow_is_dropped_not_queued_and_lost()
    {
        // All three sends in one Connected handler, on the service thread: nothing is flushed and no close is handled between
        // them. The third fits in the room left, but the client is being closed abortively for the second: queued, it would
        // be lost with the connection while its sender was told it was queued.
        await using var h = new FerryTestServer(new TcpServerStageOptions { EgressBufferBytes = 100, EgressOverflow = EgressOverflowPolicy.Disconnect }.On(Transport));
        var outcomes = new TaskCompletionSource<SendOutcome[]>(TaskCreationOptions.RunContinuationsAsynchronously);
        h.Stage.Connected += (_, e) =>
        {
            var first = h.Stage.SendWithOutcomeAsync(EgressMessage.To(e.ConnectionId, new byte[60]));
            var second = h.Stage.SendWithOutcomeAsync(EgressMessage.To(e.ConnectionId, new byte[60]));
            var third = h.Stage.SendWithOutcomeAsync(EgressMessage.To(e.ConnectionId, new byte[10]));
            outcomes.TrySetResult([first.Result, second.Result, third.Result]);
        };
        await h.StartAsync();
        // A bare socket, and a reset taken as it comes: the stage may reset the connection before the connect has completed.
        using var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            await client.ConnectAsync(h.EndPoint);
        }
        catch (SocketException e) when (e.SocketErrorCode == SocketError.ConnectionReset)
        {
        }
        var seen = await outcomes.Task.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Equal([SendOutcome.Queued, SendOutcome.Dropped, SendOutcome.Dropped], seen);
        Assert.Equal(DisconnectReason.SlowConsumer, (await h.WaitForDisconnectAsync(h.Events.OfType<ConnectedEvent>().Single().ConnectionId)).Reason);
        Assert.Equal(2, h.Stage.GetStats().EgressPacketsDroppedTotal);
    }

    [Theory]
    [InlineData(EgressOverflowPolicy.Drop)]
    [InlineData(EgressOverflowPolicy.Wait)]
    public async Task A_message_sent_after_the_kill_switch_finds_no_connection_and_what_was_sent_before_goes_out(EgressOverflowPolicy policy)
    {
        // Both in one Connected handler, on the service thread: the close request cannot be acted on in between. Queued
        // after it, the message would be written or cut by the close while its sender was told it was queued.
        await using var h = new FerryTestServer(Small(policy) with { Framing = Ferry.Framing.FramingSpec.Parse("lines") });
        var outcomes = new TaskCompletionSource<SendOutcome[]>(TaskCreationOptions.RunContinuationsAsynchronously);
        h.Stage.Connected += (_, e) =>
        {
            var before = h.Stage.SendWithOutcomeAsync(EgressMessage.To(e.ConnectionId, "bye"u8.ToArray()));
            Assert.True(h.Stage.Close(e.ConnectionId, "done"));
            var after = h.Stage.SendWithOutcomeAsync(EgressMessage.To(e.ConnectionId, "late"u8.ToArray()));
            var anyAfter = h.Stage.SendWithOutcomeAsync(EgressMessage.ToAny("late any"u8.ToArray()));
            outcomes.TrySetResult([before.Result, after.Result, anyAfter.Result]);
        };
        await h.StartAsync();
        using var client = await h.ConnectAsync();
        var seen = await outcomes.Task.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Equal([SendOutcome.Queued, SendOutcome.NoConnection, SendOutcome.NoConnection], seen);
        Assert.Equal("bye\n", System.Text.Encoding.ASCII.GetString(await client.ReceiveExactlyAsync(4)));
        Assert.Equal(DisconnectReason.Killed, (await h.WaitForDisconnectAsync(h.Events.OfType<ConnectedEvent>().Single().ConnectionId)).Reason);
    }

    [Fact]
    public async Task Disconnect_any_one_all_full_is_dropped_and_the_one_whose_turn_it_was_goes()
    {
        await using var h = new FerryTestServer(Small(EgressOverflowPolicy.Disconnect));
        await h.StartAsync();
        var (client, id) = await ConnectStalledAsync(h);
        using (client)
        {
            Assert.Equal(SendOutcome.Dropped, (await FillAsync(h, EgressMessage.ToAny(new byte[1000]))).Outcome);
            Assert.Equal(DisconnectReason.SlowConsumer, (await h.WaitForDisconnectAsync(id)).Reason);
            Assert.Equal(SendOutcome.NoConnection, await h.Stage.SendWithOutcomeAsync(EgressMessage.ToAny(new byte[1000])));
        }
    }

    [Fact]
    public async Task Wait_a_message_still_without_room_at_the_timeout_is_dropped()
    {
        var time = new StageTime();
        await using var h = new FerryTestServer(Small(EgressOverflowPolicy.Wait), time: time);
        await h.StartAsync();
        var (client, id) = await ConnectStalledAsync(h);
        using (client)
        {
            Assert.Equal(SendOutcome.Dropped, (await FillAsync(h, EgressMessage.To(id, new byte[1000]), time)).Outcome);
            Assert.Equal(1, h.Stage.GetStats().EgressPacketsDroppedTotal);
            Assert.Equal(SendOutcome.Dropped, (await FillAsync(h, EgressMessage.ToAny(new byte[1000]), time)).Outcome);
            Assert.Equal(2, h.Stage.GetStats().EgressPacketsDroppedTotal);
            Assert.Equal(0, h.Stage.GetStats().EgressUnknownTargetTotal);
            Assert.Equal(1, h.Stage.ConnectionCount);
        }
    }

    [Fact]
    public async Task Wait_a_connection_that_closes_while_a_message_waits_for_room_is_no_connection()
    {
        // The stage closes the connection while the message waits: idle (it sends nothing), 1 s on the fake clock, well
        // before the 10 s wait timeout. Not the kill switch nor a reset by the client: the first writes what the socket
        // takes before it closes, and the stream transport may take what was queued as the reset comes, either of which
        // can make room for the message first. A buffer of 128 KiB: a waiting sender is let go once half of it has gone out,
        // which a client that never reads cannot take (on the stream transport a write in flight may still finish late and
        // take a few KiB; with the 32 KiB buffer that sometimes made room before the idle close, and the message was then
        // rightly queued). A message that gets room while the close runs is no connection (CloseDecisionTests).
        // The send learns that the connection is gone, and the message, never queued, is counted for an unknown target.
        var time = new StageTime();
        await using var h = new FerryTestServer(Small(EgressOverflowPolicy.Wait) with { EgressBufferBytes = 128 * 1024, IdleTimeout = TimeSpan.FromSeconds(1) }, time: time);
        await h.StartAsync();
        var (client, id) = await ConnectStalledAsync(h);
        using var _ = client;
        SendOutcome outcome;
        Task<SendOutcome> waiting;
        do
        {
            waiting = h.Stage.SendWithOutcomeAsync(EgressMessage.To(id, new byte[1000])).AsTask();
            outcome = waiting.IsCompleted ? await waiting : default;
        }
        while (waiting.IsCompleted && outcome == SendOutcome.Queued);
        Assert.False(waiting.IsCompleted, $"the send completed with {outcome} instead of waiting for room");

        time.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal(DisconnectReason.IdleTimeout, (await h.WaitForDisconnectAsync(id)).Reason);
        Assert.Equal(SendOutcome.NoConnection, await waiting.WaitAsync(TimeSpan.FromSeconds(30)));
        Assert.Equal(1, h.Stage.GetStats().EgressUnknownTargetTotal);
    }

    [Theory]
    [InlineData(EgressOverflowPolicy.Drop)]
    [InlineData(EgressOverflowPolicy.Disconnect)]
    [InlineData(EgressOverflowPolicy.Wait)]
    public async Task A_group_or_broadcast_message_is_queued_if_one_took_it_dropped_if_every_one_dropped_it_else_no_connection(EgressOverflowPolicy policy)
    {
        var time = new StageTime();
        await using var h = new FerryTestServer(Small(policy), time: time);
        await h.StartAsync();
        // Nobody yet: no connection, for everyone, a group nobody is in, and everyone but the one sender.
        Assert.Equal(SendOutcome.NoConnection, await h.Stage.SendWithOutcomeAsync(EgressMessage.ToAll(new byte[10])));
        Assert.Equal(SendOutcome.NoConnection, await h.Stage.SendWithOutcomeAsync(EgressMessage.ToGroup("room", new byte[10])));

        var (stalled, stalledId) = await ConnectStalledAsync(h);
        using (stalled)
        {
            Assert.True(h.Stage.JoinGroup(stalledId, "room"));
            Assert.Equal(SendOutcome.Queued, await h.Stage.SendWithOutcomeAsync(EgressMessage.ToGroup("room", new byte[10])));
            Assert.Equal(SendOutcome.NoConnection, await h.Stage.SendWithOutcomeAsync(EgressMessage.ToAll(new byte[10], except: stalledId)));

            // Its only member full: the group message is dropped for every member there is, and so is the broadcast.
            Assert.Equal(SendOutcome.Dropped, (await FillAsync(h, EgressMessage.ToGroup("room", new byte[1000]), time)).Outcome);
            if (policy == EgressOverflowPolicy.Disconnect)
            {
                // The slow client was closed for it: nobody left.
                Assert.Equal(DisconnectReason.SlowConsumer, (await h.WaitForDisconnectAsync(stalledId)).Reason);
                Assert.Equal(SendOutcome.NoConnection, await h.Stage.SendWithOutcomeAsync(EgressMessage.ToAll(new byte[1000])));
                return;
            }
            Assert.Equal(SendOutcome.Dropped, (await FillAsync(h, EgressMessage.ToAll(new byte[1000]), time)).Outcome);

            // A second client that reads: it takes the broadcast, so the message was queued though the first dropped it.
            using var reader = await h.ConnectAsync();
            await h.WaitForConnectionAsync(reader.LocalEndPoint);
            var sending = h.Stage.SendWithOutcomeAsync(EgressMessage.ToAll(new byte[1000])).AsTask();
            if (!sending.IsCompleted)
                time.Advance(WaitTimeout);
            Assert.Equal(SendOutcome.Queued, await sending.WaitAsync(TimeSpan.FromSeconds(30)).ConfigureAwait(ConfigureAwaitOptions.ForceYielding | ConfigureAwaitOptions.ContinueOnCapturedContext));
            await reader.ReceiveExactlyAsync(1000);
        }
    }

    [Fact]
    public async Task A_payload_the_framing_cannot_carry_fails_the_task_as_the_bool_sends_do()
    {
        await using var h = new FerryTestServer(new TcpServerStageOptions { Framing = Ferry.Framing.FramingSpec.Parse("u16be") }.On(Transport));
        await h.StartAsync();
        using var client = await h.ConnectAsync();
        var id = (await h.WaitForConnectionAsync(client.LocalEndPoint)).ConnectionId;
        var tooLarge = new byte[70_000];

        // Not thrown at the caller: the task fails (as SendAsync's always has), for one connection and for any one.
        var one = h.Stage.SendWithOutcomeAsync(EgressMessage.To(id, tooLarge)).AsTask();
        var any = h.Stage.SendWithOutcomeAsync(EgressMessage.ToAny(tooLarge)).AsTask();
        var boolOne = h.Stage.SendAsync(id, tooLarge).AsTask();
        var boolAny = h.Stage.SendToAnyAsync(tooLarge).AsTask();
        foreach (var sending in new Task[] { one, any, boolOne, boolAny })
            await Assert.ThrowsAsync<Ferry.Framing.FramingException>(() => sending);
        Assert.Equal(SendOutcome.Queued, await h.Stage.SendWithOutcomeAsync(EgressMessage.To(id, "ok"u8.ToArray())));
    }
}
