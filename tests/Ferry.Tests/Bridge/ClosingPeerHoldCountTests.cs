using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using Ferry.Bridge;
using Ferry.Bridge.Internal;
using Ferry.Bus;
using Ferry.Connections;
using Ferry.Stages;
using Ferry.Stages.Internal;
using Ferry.Testing;
using Ferry.Tests.Support;
using Ferry.Transport;

namespace Ferry.Tests.Bridge;

/// <summary>
/// A frame the bridge sends from a service thread when every PUSH peer is full is held for one of them; if that peer's close as
/// a slow consumer is decided between the route finding it full and the hold (a peer flooding PINGs), the hold passes it over
/// and the route gives the frame to another peer, nothing counted dropped. Before, the hold counted the frame dropped and
/// answered "every peer full" with no peer named; the bridge tried again, the retry delivered it: one frame counted dropped and sent.
/// </summary>
public abstract class ClosingPeerHoldCountTests(StageTransport transport)
{
    /// <summary>These tests on the epoll transport.</summary>
    public sealed class OnEpoll() : ClosingPeerHoldCountTests(StageTransport.Epoll);

    /// <summary>These tests on the portable stream transport.</summary>
    public sealed class OnStream() : ClosingPeerHoldCountTests(StageTransport.Stream);

    private const int Size = 1000;
    private const int Limit = 32 * 1024;

    [Fact]
    public async Task A_frame_held_for_a_peer_whose_slow_consumer_close_is_decided_meanwhile_goes_to_another_peer_and_is_not_counted_dropped()
    {
        await using var server = new FerryTestServer(new TcpServerStageOptions
        {
            EgressBufferBytes = Limit,
            EgressOverflow = EgressOverflowPolicy.Wait,
            Socket = new TcpSocketOptions { SendBufferSize = 8 * 1024 },
        }.On(transport));
        var end = BridgeEnd.Create("127.0.0.1", 5555, new FrameBridgeOptions(), "Server");
        end.Attach(server.Stage, new FakePushStage("PULL"), new InProcessBus());
        var sends = new ConcurrentQueue<Task>();
        // Each packet a client sends has the bridge send one frame from the stage's service thread, where it must not wait.
        server.Bus.Topic<PacketGroup>(StageTopics.PacketGroup(server.Stage.Name)).Subscribe((group, _) =>
        {
            for (var i = 0; i < group.Count; i++)
                sends.Enqueue(end.SendAsync(new Frame(new byte[Size]), CancellationToken.None).AsTask());
            return ValueTask.CompletedTask;
        });
        await server.StartAsync();
        using var first = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { ReceiveBufferSize = 4096 };
        using var second = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { ReceiveBufferSize = 4096 };
        try
        {
            await first.ConnectAsync(server.EndPoint);
            var firstId = (await server.WaitForConnectionAsync((IPEndPoint)first.LocalEndPoint!)).ConnectionId;
            await second.ConnectAsync(server.EndPoint);
            var secondId = (await server.WaitForConnectionAsync((IPEndPoint)second.LocalEndPoint!)).ConnectionId;
            await Poll.UntilAsync(() => end.Counters.Connections == 2, "the bridge end to see both PUSH peers");

            // Both peers full: their egress buffers, then (once the kernel takes no more) their buffers again.
            IAnyEgressStage any = server.Stage;
            while (any.TrySendToAnyNow(new byte[Size], default))
            {
            }
            long last = -1;
            var steady = 0;
            await Poll.UntilAsync(() =>
            {
                var now = server.Stage.GetConnections().Sum(c => c.BytesOut);
                steady = now == last ? steady + 1 : 0;
                last = now;
                return steady >= 10;
            }, "the stalled connections' kernel buffers to fill");
            while (any.TrySendToAnyNow(new byte[Size], default))
            {
            }
            // And well past the limit: a kernel that takes a few bytes more must not give a peer room (the bridge would send the
            // frame at once, with no hold).
            var writer = server.Stage.Core.Writer;
            foreach (var c in server.Stage.Core.Table.Snapshot())
                for (var i = 0; i < 64; i++)
                    Assert.Equal(EnqueueResult.Queued, writer.EnqueuePastLimit(c, new byte[Size], default, writer.EncodedLength(Size)));

            // The peer the frame is about to be held for has its close as a slow consumer decided, as a PING flood has it decided
            // (its unread protocol answers over the limit), after the route found it full and before the hold.
            var held = new TaskCompletionSource<ConnectionId>(TaskCreationOptions.RunContinuationsAsynchronously);
            server.Stage.Core.Any.BeforeHoldForTest = c =>
            {
                if (held.Task.IsCompleted)
                    return;
                writer.WriteSessionBytes(c, new byte[Limit + 64 * 1024 + 1]);
                held.SetResult(c.Id);
            };
            await first.SendAsync("a"u8.ToArray());
            var closed = await held.Task.WaitAsync(TimeSpan.FromSeconds(30));
            await Poll.UntilAsync(() => sends.Count == 1, "the frame to be tried");
            Assert.Equal(DisconnectReason.SlowConsumer, (await server.WaitForDisconnectAsync(closed)).Reason);

            // The other peer reads: whatever was queued for it, the frame included, arrives.
            var (otherId, other) = closed == firstId ? (secondId, second) : (firstId, first);
            long read = 0;
            using var stop = new CancellationTokenSource();
            var reading = Task.Run(async () =>
            {
                var buffer = new byte[64 * 1024];
                while (true)
                {
                    var n = await other.ReceiveAsync(buffer, SocketFlags.None, stop.Token);
                    if (n == 0)
                        return;
                    Interlocked.Add(ref read, n);
                }
            });
            var frame = sends.Single();
            await Poll.UntilAsync(() => frame.IsCompleted && Interlocked.Read(ref read) == server.Stage.GetConnections().Single(c => c.Id == otherId).PacketsOut * Size,
                "the frame to be delivered to the other peer and read");
            await frame;
            await stop.CancelAsync();
            await reading.ContinueWith(_ => { });

            Assert.Equal(1, end.Counters.FramesSent);
            // Before: 1, for the frame the bridge's retry delivered.
            Assert.Equal(0, server.Stage.GetStats().EgressPacketsDroppedTotal);
        }
        finally
        {
            end.BeginStop();
            end.CompleteStop();
        }
    }
}
