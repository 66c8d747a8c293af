using System.Buffers;
using System.Net.Sockets;
using Ferry.Bridge;
using Ferry.Bridge.Internal;
using Ferry.Bridge.Zmtp;
using Ferry.Stages.Internal;
using Ferry.Testing;
using Ferry.Tests.Support;

namespace Ferry.Tests.Bridge;

/// <summary>The server against a hand-driven ZMTP peer: handshake checks, commands, malformed messages.</summary>
public sealed class ZmtpHandshakeTests
{
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task A_peer_with_an_incompatible_socket_type_gets_ERROR_and_is_closed()
    {
        int port = FreePorts.Pair();
        CancellationToken deadline = Deadline.In(Limit);
        await using var server = new FrameBridgeServer("127.0.0.1", port);
        await using var peer = await RawPeer.ConnectAsync(port, deadline); // the server's PULL port

        await peer.HandshakeAsync(ZmtpSocketType.Pull, deadline);
        (ZmtpFrameHeader header, byte[] body) = await peer.ReadFrameAsync(deadline);
        Assert.True(header.IsCommand);
        ZmtpCommand error = ZmtpCommand.Parse(body);
        Assert.Equal(ZmtpCommandKind.Error, error.Kind);
        Assert.StartsWith("Invalid socket type", error.ErrorReason);
        Assert.True(await peer.IsClosedAsync(deadline));
        Assert.Equal(0, server.Counters.Connections);
    }

    [Fact]
    public async Task A_zmtp_3_0_push_peer_is_served_pings_are_answered_and_bad_messages_are_dropped()
    {
        int port = FreePorts.Pair();
        CancellationToken deadline = Deadline.In(Limit);
        await using var server = new FrameBridgeServer("127.0.0.1", port);
        await using var peer = await RawPeer.ConnectAsync(port, deadline);
        await peer.HandshakeAsync(ZmtpSocketType.Push, deadline, minorVersion: 0);

        peer.Write(w => RogueMessage.Write(new byte[] { 1 }, 0x0201, 3, 4, w));
        peer.Write(w =>
        {
            ZmtpFrame.Write(w, [1, 2], more: true, isCommand: false);
            ZmtpFrame.Write(w, [3], more: false, isCommand: false);
        });
        peer.Write(w => ZmtpCommand.WritePing(w, 10, "ping-ctx"u8));
        peer.Write(w => RogueMessage.Write(new byte[300], 0xFFFF, 0, 0, w));
        await peer.FlushAsync(deadline);

        (ZmtpFrameHeader header, byte[] body) = await peer.ReadFrameAsync(deadline);
        Assert.True(header.IsCommand);
        ZmtpCommand pong = ZmtpCommand.Parse(body);
        Assert.Equal(ZmtpCommandKind.Pong, pong.Kind);
        Assert.Equal("ping-ctx"u8.ToArray(), pong.Data.ToArray());

        List<Frame> frames = await FerryToFerryTests.ReadAsync(server, 2, deadline);
        Assert.Equal((1, (ushort)0x0201, (byte)3, (byte)4), (frames[0].Payload.Length, frames[0].Flags, frames[0].Channel, frames[0].Error));
        Assert.Equal((300, (ushort)0xFFFF), (frames[1].Payload.Length, frames[1].Flags));
        Assert.Equal(1, server.Counters.MessagesDropped);
    }

    /// <summary>
    /// <see cref="FrameBridgeCounters.MessagesDropped"/> counts what the end's PUSH socket receives too (a PUSH socket takes no
    /// messages: a peer that sends one has it dropped), as docs/bridge.md says; the counter's own summary named only
    /// malformed messages. The peer stays connected and its frames to come are served.
    /// </summary>
    [Fact]
    public async Task A_message_sent_to_the_push_socket_is_dropped_and_counted()
    {
        int port = FreePorts.Pair();
        CancellationToken deadline = Deadline.In(Limit);
        await using var server = new FrameBridgeServer("127.0.0.1", port);
        await using var peer = await RawPeer.ConnectAsync(port + 1, deadline);
        await peer.HandshakeAsync(ZmtpSocketType.Pull, deadline);

        peer.Write(w => RogueMessage.Write(new byte[] { 1, 2, 3 }, 1, 2, 3, w)); // a well-formed Rogue frame, to the wrong socket
        await peer.FlushAsync(deadline);

        await Poll.UntilAsync(() => server.Counters.MessagesDropped == 1, "the message sent to the PUSH socket to be counted");
        Assert.Equal(0, server.Counters.FramesReceived);
        await server.SendAsync(new Frame(new byte[] { 9 }), deadline);
        (ZmtpFrameHeader header, byte[] body) = await peer.ReadFrameAsync(deadline);
        Assert.False(header.IsCommand);
        Assert.Equal(1, server.Counters.MessagesDropped);
    }

    /// <summary>Each bad message used to add a warning of the bridge's own beside the stage's rate-limited one: a peer sending garbage filled the log.</summary>
    [Fact]
    public async Task A_flood_of_bad_messages_is_counted_one_by_one_but_logged_at_a_bounded_rate()
    {
        const int bad = 200;
        int port = FreePorts.Pair();
        CancellationToken deadline = Deadline.In(Limit);
        var logs = new CapturingLoggerFactory();
        await using var server = new FrameBridgeServer("127.0.0.1", port, new FrameBridgeOptions { LoggerFactory = logs });
        await using var peer = await RawPeer.ConnectAsync(port, deadline);
        await peer.HandshakeAsync(ZmtpSocketType.Push, deadline);

        for (var i = 0; i < bad; i++)
            peer.Write(w => ZmtpFrame.Write(w, [1, 2, 3], more: false, isCommand: false)); // one part: not a Rogue frame
        peer.Write(w => RogueMessage.Write(new byte[] { 9 }, 0, 0, 0, w));
        await peer.FlushAsync(deadline);

        Frame good = (await FerryToFerryTests.ReadAsync(server, 1, deadline))[0];
        Assert.Equal(9, good.Payload.Span[0]);
        Assert.Equal(bad, server.Counters.MessagesDropped);
        var warnings = logs.Text.Split('\n').Count(line => line.Contains(" Warning ", StringComparison.Ordinal));
        Assert.True(warnings <= LogRateLimiter.Burst + 1, $"{warnings} warnings for {bad} bad messages:\n{logs.Text}");
        Assert.Contains("message of 1 part, expected 4", logs.Text);
    }

    [Fact]
    public async Task Pre_3_0_peers_and_silent_peers_are_closed()
    {
        int port = FreePorts.Pair();
        CancellationToken deadline = Deadline.In(Limit);
        // Two servers: one whose handshake deadline lies beyond the test's, so only the version check
        // can close the old peer, and one with a short deadline for the silent peer.
        await using var patient = new FrameBridgeServer("127.0.0.1", port, new FrameBridgeOptions { HandshakeTimeout = Limit * 2 });
        await using (var zmtp2 = await RawPeer.ConnectAsync(port, deadline))
        {
            zmtp2.Write(w => w.Write(new byte[] { 0xFF, 0, 0, 0, 0, 0, 0, 0, 1, 0x7F, 1, 8 }));
            await zmtp2.FlushAsync(deadline);
            Assert.True(await zmtp2.IsClosedAsync(deadline, skip: 64), "a ZMTP 2.0 greeting is refused");
        }

        int quickPort = FreePorts.Pair();
        var time = new StageTime();
        await using var quick = new FrameBridgeServer("127.0.0.1", quickPort, new FrameBridgeOptions { HandshakeTimeout = TimeSpan.FromMilliseconds(300), TimeProvider = time });
        await using (var silent = await RawPeer.ConnectAsync(quickPort + 1, deadline))
        {
            await Poll.UntilAsync(() => quick.PushStage.ConnectionCount == 1, "the silent peer to be accepted");
            time.Advance(TimeSpan.FromMilliseconds(299));
            await time.SettleAsync(quick.PushStage);
            Assert.Equal(1, quick.PushStage.ConnectionCount); // not a millisecond early
            time.Advance(TimeSpan.FromMilliseconds(1 + 37)); // the deadline and one scan (300 / 8 ms)
            Assert.True(await silent.IsClosedAsync(deadline, skip: 64), "the handshake deadline closes a silent peer");
        }

        Assert.Equal(0, patient.Counters.Connections + quick.Counters.Connections);
    }

    [Fact]
    public async Task The_handshake_deadline_closes_a_silent_peer_exactly_when_due_and_spares_one_that_greeted()
    {
        var time = new StageTime();
        var framing = Ferry.Framing.FramingSpec.Parse("zmtp,socket=pull,handshake_timeout_ms=300");
        await using var h = new FerryTestServer(new Ferry.Stages.TcpServerStageOptions { Framing = framing }, time: time);
        await h.StartAsync();
        CancellationToken deadline = Deadline.In(Limit);
        using var silent = await h.ConnectAsync();
        await using var greeted = await RawPeer.ConnectAsync(h.EndPoint.Port, deadline);
        await greeted.HandshakeAsync(ZmtpSocketType.Push, deadline);
        var greetedId = (await h.WaitForEventAsync<Ferry.Stages.ConnectedEvent>()).ConnectionId;
        Assert.Equal(2, h.Stage.ConnectionCount);

        // One millisecond short of the deadline: the silent peer is still there.
        await h.AdvanceAsync(TimeSpan.FromMilliseconds(299));
        Assert.Equal(2, h.Stage.ConnectionCount);
        Assert.Empty(h.Events.OfType<Ferry.Stages.DisconnectedEvent>());

        // Past it, the next scan (every 300 / 8 ms) closes the silent peer only.
        time.Advance(TimeSpan.FromMilliseconds(1 + 37));
        var closed = await h.WaitForEventAsync<Ferry.Stages.DisconnectedEvent>();
        Assert.NotEqual(greetedId, closed.ConnectionId);
        Assert.Equal(Ferry.Connections.DisconnectReason.ProtocolError, closed.Reason);
        Assert.Equal("handshake not completed within 300 ms", closed.Detail);
        Assert.True(await silent.WaitClosedAsync(), "the handshake deadline closes a silent peer");

        await h.AdvanceAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(1, h.Stage.ConnectionCount);
        Assert.Single(h.Events.OfType<Ferry.Stages.DisconnectedEvent>());
    }

    /// <summary>A ZMTP peer driven by hand with Ferry's codec.</summary>
    private sealed class RawPeer : IAsyncDisposable
    {
        private readonly Socket _socket;
        private readonly ArrayBufferWriter<byte> _pending = new();
        private readonly List<byte> _received = [];

        private RawPeer(Socket socket) => _socket = socket;

        public static async Task<RawPeer> ConnectAsync(int port, CancellationToken cancellationToken)
        {
            var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            await socket.ConnectAsync("127.0.0.1", port, cancellationToken);
            return new RawPeer(socket);
        }

        public void Write(Action<IBufferWriter<byte>> write) => write(_pending);

        public async Task FlushAsync(CancellationToken cancellationToken)
        {
            await _socket.SendAsync(_pending.WrittenMemory, cancellationToken);
            _pending.ResetWrittenCount();
        }

        public async Task HandshakeAsync(ZmtpSocketType type, CancellationToken cancellationToken, byte minorVersion = 1)
        {
            var greeting = new ArrayBufferWriter<byte>();
            ZmtpGreeting.Write(greeting);
            byte[] bytes = greeting.WrittenSpan.ToArray();
            bytes[11] = minorVersion;
            Write(w => w.Write(bytes));
            await FlushAsync(cancellationToken);
            await FillAsync(ZmtpGreeting.Length, cancellationToken);
            _received.RemoveRange(0, ZmtpGreeting.Length);

            Write(w => ZmtpCommand.WriteReady(w, type));
            await FlushAsync(cancellationToken);
            (ZmtpFrameHeader header, byte[] body) = await ReadFrameAsync(cancellationToken);
            Assert.True(header.IsCommand);
            Assert.Equal(ZmtpCommandKind.Ready, ZmtpCommand.Parse(body).Kind);
        }

        public async Task<(ZmtpFrameHeader Header, byte[] Body)> ReadFrameAsync(CancellationToken cancellationToken)
        {
            while (true)
            {
                var input = new ReadOnlySequence<byte>(_received.ToArray());
                if (ZmtpFrameHeader.TryRead(input, out ZmtpFrameHeader header, out int headerLength) && input.Length >= headerLength + header.BodyLength)
                {
                    byte[] body = input.Slice(headerLength, header.BodyLength).ToArray();
                    _received.RemoveRange(0, headerLength + (int)header.BodyLength);
                    return (header, body);
                }

                if (!await ReceiveAsync(cancellationToken))
                    throw new IOException("closed before a whole frame arrived");
            }
        }

        /// <summary>True once the other side closes (after skipping up to <paramref name="skip"/> bytes it still sends).</summary>
        public async Task<bool> IsClosedAsync(CancellationToken cancellationToken, int skip = 0)
        {
            while (await ReceiveAsync(cancellationToken))
            {
                if (_received.Count > skip)
                    return false;
            }

            return true;
        }

        private async Task FillAsync(int count, CancellationToken cancellationToken)
        {
            while (_received.Count < count)
            {
                if (!await ReceiveAsync(cancellationToken))
                    throw new IOException("closed during the handshake");
            }
        }

        private async Task<bool> ReceiveAsync(CancellationToken cancellationToken)
        {
            byte[] chunk = new byte[4096];
            int n;
            try
            {
                n = await _socket.ReceiveAsync(chunk, cancellationToken);
            }
            catch (SocketException)
            {
                return false; // reset counts as closed
            }

            _received.AddRange(chunk.AsSpan(0, n));
            return n > 0;
        }

        public ValueTask DisposeAsync()
        {
            _socket.Dispose();
            return ValueTask.CompletedTask;
        }
    }
}
