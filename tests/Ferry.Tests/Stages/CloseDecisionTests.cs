using System.Net;
using System.Net.Sockets;
using Ferry.Connections;
using Ferry.Stages;
using Ferry.Tests.Support;
using Ferry.Transport;

namespace Ferry.Tests.Stages;

/// <summary>
/// Closes the stage decides itself (an idle timeout, a frame error, the end of a stop), not through a close request:
/// from the decision on, a message sent to the connection is refused (<see cref="SendOutcome.NoConnection"/>), never
/// told <see cref="SendOutcome.Queued"/> and then dropped by the close.
/// </summary>
public abstract class CloseDecisionTests(StageTransport transport)
{
    /// <summary>These tests on the epoll transport.</summary>
    public sealed class OnEpoll() : CloseDecisionTests(StageTransport.Epoll);

    /// <summary>These tests on the portable stream transport.</summary>
    public sealed class OnStream() : CloseDecisionTests(StageTransport.Stream);

    private StageTransport Transport => transport;

    [Fact]
    public async Task An_idle_close_refuses_a_waiting_message_that_gets_room_while_the_close_runs()
    {
        // A message waits for room (wait policy) on a client that never reads; the idle timeout (fake clock) closes the
        // connection. Room appears while the close runs (the hook drains the buffer and lets the waiting sender go, as a write
        // finishing on the stream transport, or a flush just before, does) and the hook holds the close until the sender has
        // its answer. The close was decided: the message is no connection, not queued to be dropped a moment later.
        var time = new StageTime();
        await using var h = new FerryTestServer(new TcpServerStageOptions
        {
            EgressBufferBytes = 128 * 1024,
            EgressOverflow = EgressOverflowPolicy.Wait,
            EgressWaitTimeout = TimeSpan.FromSeconds(10),
            IdleTimeout = TimeSpan.FromSeconds(1),
            Socket = new TcpSocketOptions { SendBufferSize = 8 * 1024 },
        }.On(Transport), time: time);
        await h.StartAsync();
        var (client, id) = await ConnectStalledAsync(h);
        using var _ = client;
        var waiting = await FillUntilOneWaitsAsync(h, id);

        var hookRan = 0;
        h.Stage.Core.Writer.BeforeRetireForTest = c =>
        {
            if (c.Id != id || Interlocked.Exchange(ref hookRan, 1) != 0)
                return;
            TaskCompletionSource? waiter;
            lock (c.EgressLock)
            {
                c.Egress.Consume(c.Egress.Length);
                waiter = c.SpaceWaiter;
                c.SpaceWaiter = null;
            }
            waiter?.TrySetResult();
            // The sender answers on a pool thread; the close goes on once it has (bounded).
            Assert.True(waiter is not null && SpinWait.SpinUntil(() => waiting.IsCompleted, TimeSpan.FromSeconds(30)), "the waiting send did not complete");
        };

        time.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal(DisconnectReason.IdleTimeout, (await h.WaitForDisconnectAsync(id)).Reason);
        Assert.Equal(1, hookRan);
        Assert.Equal(SendOutcome.NoConnection, await waiting.WaitAsync(TimeSpan.FromSeconds(30)));
        Assert.Equal(1, h.Stage.GetStats().EgressUnknownTargetTotal);
    }

    [Fact]
    public async Task A_waiting_message_let_go_by_the_flush_that_ends_a_half_closed_connection_finds_no_connection()
    {
        // The client finished sending (a FIN) while egress was queued for it and a message waited for room: the connection
        // closes once what was queued is written. The flush that writes the last byte also makes room for the waiting
        // message; were it let go there, it would be queued for the close just after to drop. The waiting message is larger
        // than the buffer, so under wait it is taken only once the buffer is empty: by that very flush (a client that never
        // reads cannot take 128 KiB before it reads). The hook holds the close until a sender let go there has its answer.
        await using var h = new FerryTestServer(new TcpServerStageOptions
        {
            EgressBufferBytes = 128 * 1024,
            EgressOverflow = EgressOverflowPolicy.Wait,
            EgressWaitTimeout = TimeSpan.FromSeconds(30),
            Socket = new TcpSocketOptions { SendBufferSize = 8 * 1024 },
        }.On(Transport));
        await h.StartAsync();
        var (client, id) = await ConnectStalledAsync(h);
        using var _ = client;
        var large = new byte[130 * 1024];
        Assert.Equal(SendOutcome.Queued, await h.Stage.SendWithOutcomeAsync(EgressMessage.To(id, large)));
        var waiting = h.Stage.SendWithOutcomeAsync(EgressMessage.To(id, large)).AsTask();
        Assert.False(waiting.IsCompleted, "the second large message did not wait for the buffer to empty");
        var c = h.Stage.Core.Table.Snapshot().Single();
        h.Stage.Core.Writer.BeforeRetireForTest = closing =>
        {
            if (closing != c)
                return;
            bool letGo;
            lock (c.EgressLock)
                letGo = c.SpaceWaiter is null;
            // Let go and not back yet: the close goes on once it has its answer (bounded).
            if (letGo)
                Assert.True(SpinWait.SpinUntil(() => waiting.IsCompleted, TimeSpan.FromSeconds(30)), "the waiting send did not complete");
        };

        client.Shutdown(SocketShutdown.Send);
        await Poll.UntilAsync(() => Volatile.Read(ref c.PeerFinished), "the stage to see the client's FIN");
        Assert.False(waiting.IsCompleted);
        var buffer = new byte[64 * 1024];
        while (await client.ReceiveAsync(buffer, SocketFlags.None).WaitAsync(TimeSpan.FromSeconds(30)) > 0)
        {
        }
        Assert.Equal(DisconnectReason.RemoteClosed, (await h.WaitForDisconnectAsync(id)).Reason);
        Assert.Equal(SendOutcome.NoConnection, await waiting.WaitAsync(TimeSpan.FromSeconds(30)));
    }

    [Fact]
    public async Task A_message_sent_from_the_error_event_of_a_frame_error_that_closes_finds_no_connection()
    {
        // The error event (and the log line) come before the close, on the service thread: a message the handler sends to the
        // failing connection would be queued, then dropped by the close.
        await using var h = new FerryTestServer(new TcpServerStageOptions { Framing = Ferry.Framing.FramingSpec.Parse("u16be,max_frame_bytes=100") }.On(Transport));
        var fromHandler = new TaskCompletionSource<Task<SendOutcome>>(TaskCreationOptions.RunContinuationsAsynchronously);
        h.Stage.Error += (_, e) =>
        {
            if (e.Kind == StageErrorKind.Frame)
                fromHandler.TrySetResult(h.Stage.SendWithOutcomeAsync(EgressMessage.To(e.ConnectionId, "why"u8.ToArray())).AsTask());
        };
        await h.StartAsync();
        using var bad = await h.ConnectAsync();
        var id = (await h.WaitForConnectionAsync(bad.LocalEndPoint)).ConnectionId;

        await bad.SendAsync([0x10, 0x00]); // declares 4096 bytes: over the maximum, the connection is closed
        Assert.Equal(DisconnectReason.ProtocolError, (await h.WaitForDisconnectAsync(id)).Reason);
        var sent = await fromHandler.Task.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.True(sent.IsCompleted, "a send to a connection being closed waited");
        Assert.Equal(SendOutcome.NoConnection, await sent);
    }

    [Fact]
    public async Task At_the_end_of_a_stop_a_message_sent_to_a_connection_not_closed_yet_finds_no_connection()
    {
        // The stop closes every connection in one go; the first one's disconnected event is raised while the others are still
        // open, and a message its handler sends to another would be queued, then dropped by that one's close.
        await using var h = new FerryTestServer(new TcpServerStageOptions().On(Transport));
        var outcomes = new List<Task<SendOutcome>>();
        var ids = new List<ConnectionId>();
        h.Stage.Disconnected += (_, e) =>
        {
            lock (ids)
                foreach (var other in ids)
                    if (other != e.ConnectionId)
                        outcomes.Add(h.Stage.SendWithOutcomeAsync(EgressMessage.To(other, "bye"u8.ToArray())).AsTask());
        };
        await h.StartAsync();
        using var first = await h.ConnectAsync();
        using var second = await h.ConnectAsync();
        var a = (await h.WaitForConnectionAsync(first.LocalEndPoint)).ConnectionId;
        var b = (await h.WaitForConnectionAsync(second.LocalEndPoint)).ConnectionId;
        lock (ids)
            ids.AddRange([a, b]);

        await h.Stage.StopAsync(CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(30));
        Task<SendOutcome>[] sent;
        lock (ids)
            sent = [.. outcomes];
        Assert.Equal(2, sent.Length);
        Assert.All(sent, s => Assert.True(s.IsCompleted, "a send to a connection being closed waited"));
        Assert.Equal([SendOutcome.NoConnection, SendOutcome.NoConnection], await Task.WhenAll(sent));
    }

    /// <summary>A client that never reads, its window small from the start, so the kernel soon stops taking the stage's bytes.</summary>
    private static async Task<(Socket Client, ConnectionId Id)> ConnectStalledAsync(FerryTestServer h)
    {
        var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { ReceiveBufferSize = 4096 };
        await client.ConnectAsync(h.EndPoint);
        return (client, (await h.WaitForConnectionAsync((IPEndPoint)client.LocalEndPoint!)).ConnectionId);
    }

    /// <summary>Sends 1000-byte messages until one waits for room (bounded: 4 MB); returns that send.</summary>
    private static async Task<Task<SendOutcome>> FillUntilOneWaitsAsync(FerryTestServer h, ConnectionId id)
    {
        for (var i = 0; i < 4000; i++)
        {
            var sending = h.Stage.SendWithOutcomeAsync(EgressMessage.To(id, new byte[1000])).AsTask();
            if (!sending.IsCompleted)
                return sending;
            Assert.Equal(SendOutcome.Queued, await sending);
        }
        throw new InvalidOperationException("4000 messages of 1000 bytes were all queued for a client that does not read");
    }
}
