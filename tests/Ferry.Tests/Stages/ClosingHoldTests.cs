using System.Net.Sockets;
using Ferry.Stages;
using Ferry.Stages.Internal;
using Ferry.Testing;
using Ferry.Tests.Support;
using Ferry.Transport;

namespace Ferry.Tests.Stages;

/// <summary>
/// The paths that queue past a connection's egress limit (a service-thread sender's hold, a cross-stage hold, the delivery
/// of what was held while nobody was connected) refuse a connection whose close was asked for, as a plain send does: the
/// message is never queued for the close to cut while its sender is told it was queued, and held messages wait for the next
/// connection. Each test runs in a Connected handler, on the service thread, so the close request cannot be acted on between
/// the request and the enqueue.
/// </summary>
public abstract class ClosingHoldTests(StageTransport transport)
{
    /// <summary>These tests on the epoll transport.</summary>
    public sealed class OnEpoll() : ClosingHoldTests(StageTransport.Epoll);

    /// <summary>These tests on the portable stream transport.</summary>
    public sealed class OnStream() : ClosingHoldTests(StageTransport.Stream);

    [Fact]
    public async Task A_message_queued_past_the_limit_to_a_connection_whose_close_was_asked_for_is_refused()
    {
        await using var h = new FerryTestServer(new TcpServerStageOptions { EgressBufferBytes = 100, EgressOverflow = EgressOverflowPolicy.Wait }.On(transport));
        var result = new TaskCompletionSource<(EnqueueResult Before, EnqueueResult After)>(TaskCreationOptions.RunContinuationsAsynchronously);
        h.Stage.Connected += (_, e) =>
        {
            var c = h.Stage.Core.Table.Snapshot().Single(x => x.Id == e.ConnectionId);
            var writer = h.Stage.Core.Writer;
            var before = writer.EnqueuePastLimit(c, new byte[150], default, writer.EncodedLength(150));
            Assert.True(h.Stage.Close(e.ConnectionId, "done"));
            var after = writer.EnqueuePastLimit(c, new byte[10], default, writer.EncodedLength(10));
            result.TrySetResult((before, after));
        };
        await h.StartAsync();
        using var client = await h.ConnectAsync();
        // Before the request it is taken past the limit (that is the path's purpose); after it, no connection.
        Assert.Equal((EnqueueResult.Queued, EnqueueResult.Closed), await result.Task.WaitAsync(TimeSpan.FromSeconds(30)));
        Assert.Equal(150, (await client.ReceiveExactlyAsync(150)).Length);
    }

    [Fact]
    public async Task A_hold_for_a_slow_consumer_being_closed_counts_a_message_for_it_alone_once_and_one_the_any_route_passes_over_not_at_all()
    {
        await using var h = new FerryTestServer(new TcpServerStageOptions { EgressBufferBytes = 100, EgressOverflow = EgressOverflowPolicy.Wait }.On(transport));
        var result = new TaskCompletionSource<EnqueueResult[]>(TaskCreationOptions.RunContinuationsAsynchronously);
        var dropped = new long[2];
        h.Stage.Connected += (_, e) =>
        {
            var c = h.Stage.Core.Table.Snapshot().Single(x => x.Id == e.ConnectionId);
            var writer = h.Stage.Core.Writer;
            var holds = h.Stage.Core.Loop.CrossStageHolds!;
            var length = writer.EncodedLength(10);
            // Its close as a slow consumer decided as a peer flooding PINGs has it decided: unread protocol answers over the limit.
            writer.WriteSessionBytes(c, new byte[100 + 64 * 1024 + 1]);
            // The any-one route's holds pass it over: nothing counted, the route looks at the other connections.
            var passedOver = new[]
            {
                writer.EnqueueHolding(c, new byte[10], default, length, passOverClosing: true),
                holds.Enqueue(writer, c, Task.CompletedTask, new byte[10], default, length, passOverClosing: true),
            };
            dropped[0] = h.Stage.GetStats().EgressPacketsDroppedTotal;
            // A message for this connection alone is lost with it: dropped and counted, once each.
            var addressed = new[]
            {
                writer.EnqueueHolding(c, new byte[10], default, length),
                holds.Enqueue(writer, c, Task.CompletedTask, new byte[10], default, length),
            };
            dropped[1] = h.Stage.GetStats().EgressPacketsDroppedTotal;
            result.TrySetResult([.. passedOver, .. addressed]);
        };
        await h.StartAsync();
        // The stage resets this connection as a slow consumer in its Connected handler, which can come before this side's connect
        // has completed (then it fails with a reset): what is asserted is the stage's side, which runs either way.
        FramedTestClient? client = null;
        try
        {
            client = await h.ConnectAsync();
        }
        catch (Exception e) when (e is SocketException or IOException)
        {
        }
        using var _ = client;
        Assert.Equal([EnqueueResult.Closed, EnqueueResult.Closed, EnqueueResult.Dropped, EnqueueResult.Dropped], await result.Task.WaitAsync(TimeSpan.FromSeconds(30)));
        Assert.Equal([0L, 2L], dropped);
    }

    [Fact]
    public async Task What_is_held_for_the_next_connection_stays_held_when_that_connection_is_being_closed()
    {
        await using var h = new FerryTestServer(new TcpServerStageOptions().On(transport));
        var left = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
        h.Stage.Connected += (_, e) =>
        {
            var c = h.Stage.Core.Table.Snapshot().Single(x => x.Id == e.ConnectionId);
            var writer = h.Stage.Core.Writer;
            var held = new HeldEgress(4, 1024, h.Stage.Core.Counters);
            lock (h.Stage.Core.Table.Sync)
            {
                Assert.True(held.HoldOrDropLocked(EgressMessage.ToAll("one"u8.ToArray()), writer.Encoder));
                Assert.True(held.HoldOrDropLocked(EgressMessage.ToAll("two"u8.ToArray()), writer.Encoder));
                Assert.True(h.Stage.Close(e.ConnectionId, "done"));
                held.DeliverLocked(c, writer, keepGiven: false);
                left.TrySetResult(held.CountLocked);
            }
        };
        await h.StartAsync();
        using var client = await h.ConnectAsync();
        // Delivered to the closing connection they would have been cut with it (or written to a client being let go); they
        // were held for whoever connects next.
        Assert.Equal(2, await left.Task.WaitAsync(TimeSpan.FromSeconds(30)));
    }
}
