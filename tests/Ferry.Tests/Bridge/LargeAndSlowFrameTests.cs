using System.Buffers;
using System.Net.Sockets;
using Ferry.Bridge;
using Ferry.Bridge.Zmtp;
using Ferry.Connections;
using Ferry.Stages;
using Ferry.Tests.Support;
using Ferry.Transport;

namespace Ferry.Tests.Bridge;

/// <summary>
/// A bridge end takes every frame up to its <see cref="FrameBridgeOptions.MaxPayloadBytes"/>, however the bytes arrive. Old
/// code: its stages kept the stage defaults, 64 MiB of partial-frame memory and a 30 s frame deadline, so a frame near
/// 64 MiB closed its connection (memory_limit) and a frame slower than 30 s was cut off (frame_timeout); either was lost
/// uncounted, and the peer sent it again into the same wall.
/// </summary>
public abstract class LargeAndSlowFrameTests(StageTransport transport)
{
    /// <summary>These tests on the epoll transport.</summary>
    public sealed class OnEpoll() : LargeAndSlowFrameTests(StageTransport.Epoll);

    /// <summary>These tests on the portable stream transport.</summary>
    public sealed class OnStream() : LargeAndSlowFrameTests(StageTransport.Stream);

    private const string Loopback = "127.0.0.1";

    [Fact]
    public async Task A_frame_larger_than_the_stages_default_budget_crosses_both_ways()
    {
        var deadline = Deadline.In(TimeSpan.FromSeconds(60));
        var port = FreePorts.Pair();
        var options = new FrameBridgeOptions { Transport = transport, MaxPayloadBytes = 128 * 1024 * 1024 };
        await using var server = new FrameBridgeServer(Loopback, port, options);
        await using var client = new FrameBridgeClient(Loopback, port, options);
        await Task.WhenAll(server.WaitReadyAsync(deadline), client.WaitReadyAsync(deadline));
        var big = BridgeFrames.Random(new Random(7), 100 * 1024 * 1024);

        var atServer = FerryToFerryTests.ReadAsync(server, 1, deadline);
        await client.SendAsync(big, deadline);
        BridgeFrames.AssertSame(big, (await atServer)[0], "client->server 100 MiB frame");
        var atClient = FerryToFerryTests.ReadAsync(client, 1, deadline);
        await server.SendAsync(big, deadline);
        BridgeFrames.AssertSame(big, (await atClient)[0], "server->client 100 MiB frame");

        Assert.Equal(0, server.Counters.MessagesDropped + client.Counters.MessagesDropped);
        Assert.Equal(0, server.PullStage.GetStats().ClosedTotal + client.PullStage.GetStats().ClosedTotal);
    }

    [Fact]
    public async Task A_frame_that_takes_minutes_to_arrive_is_taken_as_libzmq_takes_it()
    {
        var time = new StageTime();
        var port = FreePorts.Pair();
        await using var server = new FrameBridgeServer(Loopback, port, new FrameBridgeOptions { Transport = transport, TimeProvider = time });
        using var peer = await PushPeer.ConnectAsync(port);
        var message = PushPeer.Message(payload: 80);
        await peer.SendAsync(message[..40]);
        await Poll.UntilAsync(() => server.PullStage.GetStats().BytesReceivedTotal >= peer.HandshakeBytes + 40, "the first half of the frame read");

        await time.AdvanceInStepsAsync(TimeSpan.FromMinutes(10), TimeSpan.FromSeconds(5), server.PullStage);
        await peer.SendAsync(message[40..]);

        var frame = (await FerryToFerryTests.ReadAsync(server, 1, Deadline.In(Poll.DefaultTimeout)))[0];
        Assert.Equal(80, frame.Payload.Length);
        Assert.Equal(0, server.PullStage.GetStats().ClosedTotal);
    }

    [Fact]
    public async Task A_frame_timeout_when_set_closes_a_peer_that_takes_longer()
    {
        var time = new StageTime();
        var port = FreePorts.Pair();
        await using var server = new FrameBridgeServer(Loopback, port,
            new FrameBridgeOptions { Transport = transport, TimeProvider = time, FrameTimeout = TimeSpan.FromSeconds(2) });
        Assert.Equal(TimeSpan.FromSeconds(2), server.PullStage.Options.FrameTimeout);
        using var peer = await PushPeer.ConnectAsync(port);
        await peer.SendAsync(PushPeer.Message(payload: 80)[..40]);
        await Poll.UntilAsync(() => server.PullStage.GetStats().BytesReceivedTotal >= peer.HandshakeBytes + 40, "the first half of the frame read");

        var closed = new TaskCompletionSource<DisconnectReason>(TaskCreationOptions.RunContinuationsAsynchronously);
        server.PullStage.Disconnected += (_, e) => closed.TrySetResult(e.Reason);
        time.Advance(TimeSpan.FromSeconds(3));
        Assert.Equal(DisconnectReason.FrameTimeout, await closed.Task.WaitAsync(Poll.DefaultTimeout));
    }

    [Fact]
    public void A_frame_timeout_below_a_millisecond_or_negative_is_refused()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new FrameBridgeServer(Loopback, FreePorts.Pair(), new FrameBridgeOptions { FrameTimeout = TimeSpan.FromTicks(1) }));
        Assert.Throws<ArgumentOutOfRangeException>(() => new FrameBridgeServer(Loopback, FreePorts.Pair(), new FrameBridgeOptions { FrameTimeout = TimeSpan.FromSeconds(-1) }));
    }

    [Fact]
    public async Task The_commands_ends_report_no_slow_handlers_and_a_library_users_end_does()
    {
        // The commands' ends hold only Ferry's own handlers; their first call's JIT on a loaded machine warned of a
        // "ConnectedEvent handler" at the start of ferry bridge client, with advice for a handler's author.
        var port = FreePorts.Pair();
        await using (var quiet = new FrameBridgeClient(Loopback, port, new FrameBridgeOptions { Transport = transport, ReportSlowHandlers = false }))
            Assert.False(quiet.PushStage.Core.Events.ReportSlowHandlers || quiet.PullStage.Core.Events.ReportSlowHandlers);
        await using var server = new FrameBridgeServer(Loopback, port, new FrameBridgeOptions { Transport = transport });
        Assert.True(server.PushStage.Core.Events.ReportSlowHandlers && server.PullStage.Core.Events.ReportSlowHandlers);
    }

    /// <summary>A ZMTP PUSH peer that sends raw bytes after its handshake, so that a frame can be cut where a test wants.</summary>
    private sealed class PushPeer : IDisposable
    {
        private readonly Socket _socket = new(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);

        /// <summary>The bytes of the peer's greeting and READY, which the stage counts as received too.</summary>
        public int HandshakeBytes { get; private set; }

        public static async Task<PushPeer> ConnectAsync(int port)
        {
            using var deadline = new CancellationTokenSource(Poll.DefaultTimeout);
            var peer = new PushPeer();
            await peer._socket.ConnectAsync(Loopback, port, deadline.Token);
            var hello = new ArrayBufferWriter<byte>();
            ZmtpGreeting.Write(hello);
            ZmtpCommand.WriteReady(hello, ZmtpSocketType.Push);
            await peer._socket.SendAsync(hello.WrittenMemory, deadline.Token);
            peer.HandshakeBytes = hello.WrittenCount;
            // The server's greeting and its READY (a short command: flags, one length byte, the body).
            await peer.ReceiveExactlyAsync(ZmtpGreeting.Length, deadline.Token);
            var header = await peer.ReceiveExactlyAsync(2, deadline.Token);
            await peer.ReceiveExactlyAsync(header[1], deadline.Token);
            return peer;
        }

        /// <summary>Rogue's four-part message with a short payload: flags (2), channel (1), error (1), then the payload.</summary>
        public static byte[] Message(int payload)
        {
            byte[] metadata = [0x01, 2, 0x34, 0x12, 0x01, 1, 7, 0x01, 1, 0];
            return [.. metadata, 0x00, (byte)payload, .. Enumerable.Range(0, payload).Select(i => (byte)i)];
        }

        public async Task SendAsync(byte[] bytes)
        {
            using var deadline = new CancellationTokenSource(Poll.DefaultTimeout);
            await _socket.SendAsync(bytes, deadline.Token);
        }

        private Task<byte[]> ReceiveExactlyAsync(int count, CancellationToken cancellationToken) => PeerReads.ExactlyAsync(_socket, count, cancellationToken);

        public void Dispose() => _socket.Dispose();
    }
}
