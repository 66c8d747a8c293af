using System.Net.Sockets;
using Ferry.Stages;
using Ferry.Tests.Support;

namespace Ferry.Tests.Stages;

/// <summary>
/// What the end of a stop dropped (ferry run's and ferry serve's "the stop dropped N bytes" line): only what the connections
/// it closed still held, not what a full buffer's overflow policy dropped while the grace period ran.
/// </summary>
public sealed class StopDroppedTests
{
    [Fact]
    public async Task The_stop_accounts_for_what_its_close_abandoned_not_for_overflow_during_the_grace_period()
    {
        var time = new StageTime();
        await using var h = new FerryTestServer(new TcpServerStageOptions
        {
            EgressBufferBytes = 64 * 1024,
            EgressOverflow = EgressOverflowPolicy.Drop,
            StopGracePeriod = TimeSpan.FromSeconds(10),
        }, recordPackets: false, time: time);
        await h.StartAsync();
        using var client = new Socket(SocketType.Stream, ProtocolType.Tcp) { ReceiveBufferSize = 4096 };
        await client.ConnectAsync(h.EndPoint); // and never reads
        var id = (await h.WaitForConnectionAsync()).ConnectionId;

        // Fill the kernel's buffers and the connection's egress buffer until messages overflow. A drop alone does not say the
        // kernel is full: a burst can fill the egress buffer before the service thread flushes it, and the kernel may then take
        // it all (under load it did: the stop found nothing to drain, closed at once, and refused every send after). So after
        // each burst the stage runs a round (its flush), and the bursts go on until bytes stay queued after a flush.
        var message = new byte[1024];
        var sent = 0;
        while (true)
        {
            var drops = h.Stage.GetConnections().Single().EgressPacketsDropped;
            for (; h.Stage.GetConnections().Single().EgressPacketsDropped == drops; sent++)
            {
                Assert.True(sent < 100_000, "100 MB sent to a client that does not read, and nothing overflowed");
                await h.Stage.SendAsync(id, message);
            }
            await time.SettleAsync(h.Stage);
            if (h.Stage.GetConnections().Single().EgressBytesQueued > 0)
                break;
        }

        var stopping = h.Stage.StopAsync();
        var atStop = h.Stage.GetStats().EgressBytesDroppedTotal;
        // While the grace period runs, more is sent to the full connection and overflows: drops, but not the stop's.
        // (Sent until one overflows: the loop may still move some of the buffer into the kernel as the stop begins.)
        for (sent = 0; h.Stage.GetStats().EgressBytesDroppedTotal == atStop; sent++)
        {
            Assert.True(sent < 100_000, "100 MB sent during the grace period to a client that does not read, and nothing overflowed");
            await h.Stage.SendAsync(id, message);
        }
        var afterOverflow = h.Stage.GetStats().EgressBytesDroppedTotal;

        time.Advance(TimeSpan.FromSeconds(11));
        await stopping.WaitAsync(TimeSpan.FromSeconds(10));

        var total = h.Stage.GetStats().EgressBytesDroppedTotal;
        var (bytes, packets) = h.Stage.Core.StopDropped;
        // The overflow during the grace period is the totals' alone; what the end of the stop abandoned (the buffer, less what
        // the close's linger took to write) is the stop's. Before, the line said the stop dropped both.
        Assert.True(afterOverflow > atStop);
        Assert.Equal(total - afterOverflow, bytes);
        Assert.Equal(0, packets);
    }
}
