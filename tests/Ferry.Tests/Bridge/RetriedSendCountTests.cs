using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using Ferry.Bridge;
using Ferry.Bridge.Internal;
using Ferry.Bus;
using Ferry.Testing;
using Ferry.Stages;
using Ferry.Tests.Support;
using Ferry.Transport;

namespace Ferry.Tests.Bridge;

/// <summary>
/// How a real PUSH stage counts a frame the bridge tries again. A sender on the stage's service thread (what an inline pipe is)
/// must not wait for room, so once the stage's hold for a full peer is over the stage answers "every peer full"; the bridge then
/// waits for room and sends the frame again. Before, the stage counted that first answer as a dropped message, and the frame the
/// retry delivered as sent too: one frame, one send and one drop on every dashboard. Now the stage counts no drop for an attempt
/// a caller tries again; a frame the bridge gives up (stop, send timeout) counts one; a sender that does not retry is unchanged.
/// </summary>
public sealed class RetriedSendCountTests
{
    private const int Size = 1000;
    /// <summary>Frames queued past the egress limit while the stage holds their sender: more than the whole buffer.</summary>
    private const int Held = 40;

    private static TcpServerStageOptions Small(EgressOverflowPolicy policy) => new()
    {
        EgressBufferBytes = 32 * 1024,
        EgressOverflow = policy,
        EgressWaitTimeout = TimeSpan.FromMilliseconds(200),
        Socket = new TcpSocketOptions { SendBufferSize = 8 * 1024 },
    };

    /// <summary>
    /// A bridge end whose PUSH stage is a real server stage, every frame it sends from the stage's packet groups (its service
    /// thread) kept in <see cref="Sends"/>; the PULL side is a fake (not used).
    /// </summary>
    private sealed class Setup : IAsyncDisposable
    {
        public required FerryTestServer Server { get; init; }
        public required BridgeEnd End { get; init; }
        public required StageTime Time { get; init; }
        /// <summary>Every send from the service thread, in order.</summary>
        public ConcurrentQueue<Task> Sends { get; } = new();
        /// <summary>The sends through the stage's own <see cref="TcpServerStage.SendToAnyAsync"/>, when the bridge is not used.</summary>
        public ConcurrentQueue<Task<bool>> StageSends { get; } = new();
        public Socket? Client { get; set; }
        /// <summary>How many frames the service thread sends for each packet the client sends.</summary>
        public int FramesPerPacket = 1;

        public long Dropped => Server.Stage.GetStats().EgressPacketsDroppedTotal;

        public async ValueTask DisposeAsync()
        {
            End.BeginStop();
            Client?.Dispose();
            await Server.DisposeAsync();
            End.CompleteStop();
        }
    }

    private static async Task<Setup> StartAsync(Func<TimeProvider, FrameBridgeOptions>? bridge = null, bool sendThroughBridge = true)
    {
        var time = new StageTime();
        var server = new FerryTestServer(Small(EgressOverflowPolicy.Wait), time: time);
        var end = BridgeEnd.Create("127.0.0.1", 5555, bridge?.Invoke(time) ?? new FrameBridgeOptions(), "Server");
        end.Attach(server.Stage, new FakePushStage("PULL"), new InProcessBus());
        var setup = new Setup { Server = server, End = end, Time = time };
        // Packet groups are handled on the stage's service thread: each packet the client sends has the bridge send one frame
        // from there, not awaited (a sender there must not wait).
        server.Bus.Topic<PacketGroup>(StageTopics.PacketGroup(server.Stage.Name)).Subscribe((group, _) =>
        {
            var frames = group.Count * Volatile.Read(ref setup.FramesPerPacket);
            for (var i = 0; i < frames; i++)
            {
                if (sendThroughBridge)
                {
                    setup.Sends.Enqueue(end.SendAsync(new Frame(new byte[Size]), CancellationToken.None).AsTask());
                    continue;
                }
                var sending = server.Stage.SendToAnyAsync(new byte[Size]).AsTask();
                setup.StageSends.Enqueue(sending);
                setup.Sends.Enqueue(sending);
            }
            return ValueTask.CompletedTask;
        });
        await server.StartAsync();

        // A client that never reads, with a small receive window from the start.
        var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { ReceiveBufferSize = 4096 };
        setup.Client = client;
        await client.ConnectAsync(server.EndPoint);
        await server.WaitForConnectionAsync((IPEndPoint)client.LocalEndPoint!);
        await Poll.UntilAsync(() => end.Counters.Connections == 1, "the bridge end to see its PUSH peer");

        // Fill the peer: its egress buffer, then (once the kernel takes no more) the buffer again.
        IAnyEgressStage any = server.Stage;
        while (any.TrySendToAnyNow(new byte[Size], default))
        {
        }
        long last = -1;
        var steady = 0;
        await Poll.UntilAsync(() =>
        {
            var now = server.Stage.GetConnections().Single().BytesOut;
            steady = now == last ? steady + 1 : 0;
            last = now;
            return steady >= 10;
        }, "the stalled connection's kernel buffers to fill");
        while (any.TrySendToAnyNow(new byte[Size], default))
        {
        }

        // Frames sent from the service thread are queued past the limit, and the stage holds their sender (this client) for up to
        // the wait timeout; once that is over, the stage lets the client be read again. Well past the limit: a kernel that
        // takes a few bytes more must not give the connection room (that would end the hold).
        Volatile.Write(ref setup.FramesPerPacket, Held);
        await client.SendAsync("a"u8.ToArray());
        await Poll.UntilAsync(() => setup.Sends.Count == Held && setup.Sends.All(t => t.IsCompletedSuccessfully), "the first frames to be queued past the limit");
        Assert.Equal(sendThroughBridge ? Held : 0, end.Counters.FramesSent);
        Volatile.Write(ref setup.FramesPerPacket, 1);
        time.Advance(TimeSpan.FromMilliseconds(200));
        await time.SettleAsync(server.Stage);

        // The last frame finds the hold over: the stage answers "every peer full", and the bridge waits for room.
        await client.SendAsync("b"u8.ToArray());
        await Poll.UntilAsync(() => setup.Sends.Count == Held + 1, "the last frame to be tried");
        if (sendThroughBridge)
            Assert.False(setup.Sends.Last().IsCompleted, "the last frame should wait for room: the peer stays full");
        return setup;
    }

    [Fact]
    public async Task A_frame_the_bridge_retries_after_every_peer_was_full_counts_as_sent_and_not_as_dropped()
    {
        await using var s = await StartAsync();
        // Before: 1 here already, for a frame that was not lost.
        Assert.Equal(0, s.Dropped);

        // The client reads: the peer makes room, and the bridge's retry delivers the frame.
        var last = s.Sends.Last();
        long read = 0;
        using var stop = new CancellationTokenSource();
        var reading = Task.Run(async () =>
        {
            var buffer = new byte[64 * 1024];
            while (true)
            {
                var n = await s.Client!.ReceiveAsync(buffer, SocketFlags.None, stop.Token);
                if (n == 0)
                    return;
                Interlocked.Add(ref read, n);
            }
        });
        await Poll.UntilAsync(() => last.IsCompleted && Interlocked.Read(ref read) == s.Server.Stage.GetConnections().Single().PacketsOut * Size,
            "the retried frame to be delivered and read");
        await last;
        await stop.CancelAsync();
        await reading.ContinueWith(_ => { });

        Assert.Equal(Held + 1, s.End.Counters.FramesSent);
        Assert.Equal(0, s.Dropped);
        Assert.Equal(0, s.Server.Stage.GetConnections().Single().EgressPacketsDropped);
    }

    [Fact]
    public async Task A_retried_frame_the_bridge_gives_up_when_it_stops_counts_one_drop()
    {
        await using var s = await StartAsync();
        var last = s.Sends.Last();

        s.End.BeginStop();

        await Assert.ThrowsAsync<ObjectDisposedException>(() => last);
        Assert.Equal(1, s.Dropped);
        Assert.Equal(1, s.Server.Stage.GetConnections().Single().EgressPacketsDropped);
        Assert.Equal(Held, s.End.Counters.FramesSent);
    }

    [Fact]
    public async Task A_retried_frame_the_bridge_gives_up_at_its_send_timeout_counts_one_drop()
    {
        await using var s = await StartAsync(time => new FrameBridgeOptions { SendTimeout = TimeSpan.FromSeconds(1), TimeProvider = time });
        var last = s.Sends.Last();
        Assert.Equal(0, s.Dropped);

        s.Time.Advance(TimeSpan.FromSeconds(1));

        await Assert.ThrowsAsync<TimeoutException>(() => last);
        Assert.Equal(1, s.Dropped);
        Assert.Equal(1, s.Server.Stage.GetConnections().Single().EgressPacketsDropped);
    }

    [Fact]
    public async Task A_stage_sender_on_the_service_thread_that_finds_the_hold_over_still_counts_one_drop()
    {
        // The same stage, its own SendToAnyAsync in place of the bridge: it does not try again, so the message is lost and counted.
        await using var s = await StartAsync(sendThroughBridge: false);
        Assert.False(await s.StageSends.Last());
        Assert.Equal(1, s.Dropped);
        Assert.Equal(1, s.Server.Stage.GetConnections().Single().EgressPacketsDropped);
    }

    [Fact]
    public async Task A_plain_send_to_any_that_finds_every_connection_full_under_drop_counts_one_drop()
    {
        var options = Small(EgressOverflowPolicy.Drop);
        await using var h = new FerryTestServer(options);
        await h.StartAsync();
        using var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { ReceiveBufferSize = 4096 };
        await client.ConnectAsync(h.EndPoint);
        await h.WaitForConnectionAsync((IPEndPoint)client.LocalEndPoint!);

        var sent = 0;
        while (await h.Stage.SendToAnyAsync(new byte[Size]))
            sent++;

        Assert.True(sent > 16, $"{sent} messages fit before the buffer was full");
        Assert.Equal(1, h.Stage.GetStats().EgressPacketsDroppedTotal);
        Assert.Equal(1, h.Stage.GetConnections().Single().EgressPacketsDropped);
    }
}
