using Ferry.Transport;
using System.Net.Sockets;
using Ferry.Stages;
using Ferry.Tests.Support;

namespace Ferry.Tests.Stages;

[Collection(ProcessMemoryCollection.Name)]
public abstract class BackpressureTests(StageTransport transport)
{
    /// <summary>These tests on the epoll transport.</summary>
    [Collection(ProcessMemoryCollection.Name)]
    public sealed class OnEpoll() : BackpressureTests(StageTransport.Epoll);

    /// <summary>These tests on the portable stream transport.</summary>
    [Collection(ProcessMemoryCollection.Name)]
    public sealed class OnStream() : BackpressureTests(StageTransport.Stream);

    private StageTransport Transport => transport;

    [Fact]
    public async Task A_blocked_subscriber_stops_reads_without_memory_growth_and_loses_nothing()
    {
        await using var h = new FerryTestServer(new TcpServerStageOptions().On(Transport), recordPackets: false);
        using var queue = h.Bus.Topic<PacketGroup>(StageTopics.PacketGroup(h.Stage.Name)).SubscribeQueue(capacity: 4);
        await h.StartAsync();
        using var client = await h.ConnectAsync();
        await h.WaitForConnectionAsync(client.LocalEndPoint);

        // Send until the kernel buffers are full: the stage must have stopped reading. It has once it published the 5th group
        // (GroupsPublishedTotal counts a group as its publish begins): 4 fill the queue and the 5th's publish waits for room,
        // holding the service thread, so nothing more is read. Only then does a stalled send say the kernel is full: before,
        // the stall alone ended the burst, and under load the stage went on reading after it (the bytes read moved on).
        const int queuedAndPublishing = 4 + 1;
        var chunk = new byte[64 * 1024];
        long sent = 0;
        client.Socket.Blocking = false;
        var stalledSince = DateTime.UtcNow;
        while (DateTime.UtcNow - stalledSince < TimeSpan.FromMilliseconds(500))
        {
            try
            {
                var n = client.Socket.Send(chunk, SocketFlags.None);
                sent += n;
                stalledSince = DateTime.UtcNow;
            }
            catch (SocketException e) when (e.SocketErrorCode == SocketError.WouldBlock)
            {
                if (h.Stage.GetStats().GroupsPublishedTotal < queuedAndPublishing)
                    stalledSince = DateTime.UtcNow; // still reading: what it reads makes room for more
                await Task.Delay(10);
            }
            Assert.True(sent < 512L * 1024 * 1024, "the client could send without limit: nothing pushed back");
        }
        client.Socket.Blocking = true;

        var received = h.Stage.GetStats().BytesReceivedTotal;
        Assert.Equal(queuedAndPublishing, h.Stage.GetStats().GroupsPublishedTotal);
        // The stage read at most what fits in the 4 queued groups plus the one being published.
        Assert.True(received <= 6 * 64 * 1024, $"stage read {received} bytes while its subscriber was blocked");
        Assert.True(sent > received, "bytes wait in the TCP buffers, not in the stage");
        var heapBefore = GC.GetTotalMemory(forceFullCollection: true);

        // Hold the block for a while longer: nothing more is read, memory does not grow.
        await Task.Delay(200);
        Assert.Equal(received, h.Stage.GetStats().BytesReceivedTotal);
        Assert.True(GC.GetTotalMemory(forceFullCollection: true) - heapBefore < 4 * 1024 * 1024);

        // Resume: every byte arrives.
        long total = 0;
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        while (total < sent)
        {
            var group = await queue.ReadAsync(cts.Token);
            total += group.TotalBytes;
        }
        Assert.Equal(sent, total);
    }
}
