using Ferry.Transport;
using Ferry.Stages;
using Ferry.Tests.Support;

namespace Ferry.Tests.Stages;

public abstract class EgressTests(StageTransport transport)
{
    /// <summary>These tests on the epoll transport.</summary>
    public sealed class OnEpoll() : EgressTests(StageTransport.Epoll);

    /// <summary>These tests on the portable stream transport.</summary>
    public sealed class OnStream() : EgressTests(StageTransport.Stream);

    private StageTransport Transport => transport;

    [Fact]
    public async Task Egress_packets_are_written_to_every_client()
    {
        await using var h = new FerryTestServer(new TcpServerStageOptions().On(Transport));
        await h.StartAsync();
        using var a = await h.ConnectAsync();
        using var b = await h.ConnectAsync();
        await h.WaitForConnectionAsync(a.LocalEndPoint);
        await h.WaitForConnectionAsync(b.LocalEndPoint);

        await h.Bus.Topic<EgressMessage>(StageTopics.EgressPackets(h.Stage.Name)).PublishAsync(EgressMessage.ToAll("to all"u8.ToArray()));
        Assert.Equal("to all"u8.ToArray(), await a.ReceiveExactlyAsync(6));
        Assert.Equal("to all"u8.ToArray(), await b.ReceiveExactlyAsync(6));
        Assert.Equal(2, h.Stage.GetStats().PacketsSentTotal);
    }

    [Fact]
    public async Task Egress_with_nobody_connected_is_dropped_and_counted()
    {
        await using var h = new FerryTestServer(new TcpServerStageOptions().On(Transport));
        await h.StartAsync();
        await h.Bus.Topic<EgressMessage>(StageTopics.EgressPackets(h.Stage.Name)).PublishAsync(EgressMessage.ToAll(new byte[10]));
        var stats = h.Stage.GetStats();
        Assert.Equal(1, stats.EgressPacketsDroppedTotal);
        Assert.Equal(10, stats.EgressBytesDroppedTotal);
    }

    [Fact]
    public async Task A_slow_client_loses_what_does_not_fit_and_a_fast_client_gets_everything()
    {
        const int bufferBytes = 64 * 1024;
        await using var h = new FerryTestServer(new TcpServerStageOptions
        {
            EgressBufferBytes = bufferBytes,
            Socket = new Ferry.Transport.TcpSocketOptions { SendBufferSize = 16 * 1024 },
        }.On(Transport));
        await h.StartAsync();
        using var slow = await h.ConnectAsync();
        slow.Socket.ReceiveBufferSize = 16 * 1024;
        using var fast = await h.ConnectAsync();
        var slowId = (await h.WaitForConnectionAsync(slow.LocalEndPoint)).ConnectionId;
        await h.WaitForConnectionAsync(fast.LocalEndPoint);

        const int messages = 2000;
        const int size = 1000;
        const int window = 32; // messages in flight to the fast client: well inside its 64 KiB buffer
        var egress = h.Bus.Topic<EgressMessage>(StageTopics.EgressPackets(h.Stage.Name));
        var received = new byte[messages * size];
        var receivedBytes = 0;
        var reader = Task.Run(async () =>
        {
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            while (receivedBytes < received.Length)
            {
                var n = await fast.Socket.ReceiveAsync(received.AsMemory(receivedBytes), System.Net.Sockets.SocketFlags.None, cts.Token);
                if (n == 0)
                    throw new EndOfStreamException();
                Volatile.Write(ref receivedBytes, receivedBytes + n);
            }
        });
        for (var i = 0; i < messages; i++)
        {
            // The publisher keeps pace with the fast client only; the slow one never reads.
            if (i - Volatile.Read(ref receivedBytes) / size > window)
                await Poll.UntilAsync(() => i - Volatile.Read(ref receivedBytes) / size <= window || reader.IsCompleted, "the fast client to catch up");
            var payload = new byte[size];
            BitConverter.TryWriteBytes(payload, i);
            await egress.PublishAsync(EgressMessage.ToAll(payload));
        }
        await reader.WaitAsync(TimeSpan.FromSeconds(30));
        for (var i = 0; i < messages; i++)
            Assert.Equal(i, BitConverter.ToInt32(received, i * size));

        var slowConnection = h.Stage.Core.Table.Snapshot().Single(c => c.Id == slowId);
        Assert.True(slowConnection.EgressPacketsDropped > 0, "the slow client had messages dropped");
        Assert.True(slowConnection.Egress.Length <= bufferBytes);
        Assert.Equal(slowConnection.EgressPacketsDropped, h.Stage.GetStats().EgressPacketsDroppedTotal);
    }
}
