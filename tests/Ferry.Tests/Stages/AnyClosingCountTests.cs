using System.Net;
using System.Net.Sockets;
using Ferry.Connections;
using Ferry.Stages;
using Ferry.Tests.Support;
using Ferry.Transport;

namespace Ferry.Tests.Stages;

/// <summary>
/// The "any one" route passes over a connection that is closing as a slow consumer without counting a drop. Before, the
/// writer refused the message there as it refuses one sent to that connection (dropped and counted) and the route then gave
/// the same message to the next connection: one message delivered, one counted dropped as well.
/// </summary>
public abstract class AnyClosingCountTests(StageTransport transport)
{
    /// <summary>These tests on the epoll transport.</summary>
    public sealed class OnEpoll() : AnyClosingCountTests(StageTransport.Epoll);

    /// <summary>These tests on the portable stream transport.</summary>
    public sealed class OnStream() : AnyClosingCountTests(StageTransport.Stream);

    [Fact]
    public async Task A_message_the_next_connection_takes_is_not_counted_dropped_at_a_closing_slow_consumer()
    {
        await using var h = new FerryTestServer(new TcpServerStageOptions
        {
            EgressBufferBytes = 32 * 1024,
            EgressOverflow = EgressOverflowPolicy.Disconnect,
            Socket = new TcpSocketOptions { SendBufferSize = 8 * 1024 },
        }.On(transport));
        await h.StartAsync();
        using var slow = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { ReceiveBufferSize = 4096 };
        await slow.ConnectAsync(h.EndPoint);
        var slowId = (await h.WaitForConnectionAsync((IPEndPoint)slow.LocalEndPoint!)).ConnectionId;
        using var other = await h.ConnectAsync();
        var otherId = (await h.WaitForConnectionAsync(other.LocalEndPoint)).ConnectionId;

        // The slow consumer's close is held while it is decided (Closing) and the connection still in the table.
        using var release = new ManualResetEventSlim();
        var held = 0;
        h.Stage.Core.Writer.BeforeRetireForTest = c =>
        {
            if (c.Id != slowId || Interlocked.Exchange(ref held, 1) != 0)
                return;
            Assert.True(release.Wait(TimeSpan.FromSeconds(30)), "the test did not let the close go on");
        };
        try
        {
            // Messages to the slow consumer until its buffer is full: the one that finds it full is dropped (counted once)
            // and the connection closes as a slow consumer.
            var outcome = SendOutcome.Queued;
            for (var i = 0; i < 4000 && outcome == SendOutcome.Queued; i++)
                outcome = await h.Stage.SendWithOutcomeAsync(EgressMessage.To(slowId, new byte[1000]));
            Assert.Equal(SendOutcome.Dropped, outcome);
            await Poll.UntilAsync(() => Volatile.Read(ref held) == 1, "the slow consumer's close to begin");
            Assert.Equal(1, h.Stage.GetStats().EgressPacketsDroppedTotal);

            // Two messages to any one: whichever turn comes first, at least one passes the closing connection over.
            var before = h.Stage.GetConnections().Single(c => c.Id == otherId).PacketsOut;
            Assert.True(await h.Stage.SendToAnyAsync("one"u8.ToArray()));
            Assert.True(await h.Stage.SendToAnyAsync("two"u8.ToArray()));

            // Both went to the other connection; the only drop is still the slow consumer's own message. Before: 2 or 3.
            Assert.Equal(before + 2, h.Stage.GetConnections().Single(c => c.Id == otherId).PacketsOut);
            Assert.Equal(1, h.Stage.GetStats().EgressPacketsDroppedTotal);
        }
        finally
        {
            release.Set();
        }
        Assert.Equal(DisconnectReason.SlowConsumer, (await h.WaitForDisconnectAsync(slowId)).Reason);
        Assert.Equal("onetwo"u8.ToArray(), await other.ReceiveExactlyAsync(6));
        Assert.Equal(1, h.Stage.GetStats().EgressPacketsDroppedTotal);
    }
}
