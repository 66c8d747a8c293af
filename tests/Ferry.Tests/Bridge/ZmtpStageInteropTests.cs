using Ferry.Transport;
using Ferry.Bridge.Zmtp;
using System.Net;
using Ferry.Cli;
using Ferry.Framing;
using Ferry.Stages;
using Ferry.Tests.Support;

namespace Ferry.Tests.Bridge;

/// <summary>
/// The <c>zmtp</c> framing is a framing like any other: a plain server stage, or <c>ferry serve</c>,
/// talks to real libzmq sockets with it. Reported as skipped, never passed, when python3-zmq is missing.
/// </summary>
[Collection(LibzmqCollection.Name)]
public abstract class ZmtpStageInteropTests(StageTransport transport)
{
    /// <summary>These tests on the epoll transport.</summary>
    [Collection(LibzmqCollection.Name)]
    public sealed class OnEpoll() : ZmtpStageInteropTests(StageTransport.Epoll);

    /// <summary>These tests on the portable stream transport.</summary>
    [Collection(LibzmqCollection.Name)]
    public sealed class OnStream() : ZmtpStageInteropTests(StageTransport.Stream);

    private StageTransport Transport => transport;

    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(60);

    private static PeerProcess Python(string code, params string[] args) => new(PythonZmq.Interpreter, ["-c", code, .. args]);

    [PythonZmqFact]
    public async Task Ferry_serve_with_zmtp_pull_prints_what_a_libzmq_PUSH_sends_with_rogue_fields()
    {
        var stdout = new LineWriter();
        using var stop = new CancellationTokenSource();
        var exit = Task.Run(() => FerryCommand.RunAsync(["serve", "--bind", "127.0.0.1:0", "--framing", "zmtp,socket=pull"], TextReader.Null, stdout, new LineWriter(), stop.Token));
        var listening = await stdout.WaitJsonAsync(j => LineWriter.Is(j, "listening"), "listening");
        var local = IPEndPoint.Parse(listening.GetProperty("local").GetString()!);

        using var peer = Python("""
            import struct, sys, zmq
            ctx = zmq.Context()
            s = ctx.socket(zmq.PUSH)
            s.setsockopt(zmq.LINGER, 10000)
            s.connect(sys.argv[1])
            s.send_multipart([struct.pack('<H', 0x1234), bytes([7]), bytes([1]), b'hello'])
            s.send_multipart([b'\x00\x00', b'\x00', b'\x00', b''])
            s.close()
            ctx.term()
            """, $"tcp://{local}");
        using var deadline = new CancellationTokenSource(Limit);
        Assert.True(await peer.WaitExitAsync(deadline.Token) == 0, peer.Output);

        var first = await stdout.WaitJsonAsync(j => LineWriter.Is(j, "packet") && j.GetProperty("len").GetInt32() == 5, "the first frame");
        Assert.Equal(0x1234, first.GetProperty("flags").GetInt32());
        Assert.Equal(7, first.GetProperty("channel").GetInt32());
        Assert.Equal(1, first.GetProperty("error").GetInt32());
        Assert.Equal("hello", first.GetProperty("text").GetString());
        await stdout.WaitJsonAsync(j => LineWriter.Is(j, "packet") && j.GetProperty("len").GetInt32() == 0, "the empty frame");
        stop.Cancel();
        Assert.Equal(0, await exit.WaitAsync(Limit));
    }

    [PythonZmqFact]
    public async Task Ferry_serve_with_zmtp_push_sends_stdin_broadcasts_as_rogue_frames_to_a_libzmq_PULL()
    {
        var stdin = new QueueReader();
        var stdout = new LineWriter();
        using var stop = new CancellationTokenSource();
        var exit = Task.Run(() => FerryCommand.RunAsync(["serve", "--bind", "127.0.0.1:0", "--framing", "zmtp,socket=push"], stdin, stdout, new LineWriter(), stop.Token));
        var listening = await stdout.WaitJsonAsync(j => LineWriter.Is(j, "listening"), "listening");
        var local = IPEndPoint.Parse(listening.GetProperty("local").GetString()!);
        using var peer = Python("""
            import sys, zmq
            ctx = zmq.Context()
            s = ctx.socket(zmq.PULL)
            s.connect(sys.argv[1])
            print(' '.join(p.hex() for p in s.recv_multipart()), flush=True)
            """, $"tcp://{local}");

        // The connected line comes after the ZMTP handshake; egress flows from then on.
        await stdout.WaitJsonAsync(j => LineWriter.Is(j, "connected"), "the PULL peer's handshake");
        stdin.Send("""{"type":"broadcast","text":"hi","flags":4660,"channel":7,"error":1}""");
        using var deadline = new CancellationTokenSource(Limit);
        Assert.True(await peer.WaitExitAsync(deadline.Token) == 0, peer.Output);
        Assert.Contains("3412 07 01 6869", peer.Output);
        stop.Cancel();
        Assert.Equal(0, await exit.WaitAsync(Limit));
    }

    [PythonZmqFact]
    public async Task A_server_stage_with_zmtp_push_single_feeds_libzmq_PULL_sockets_once_their_handshake_is_done()
    {
        await using var h = new FerryTestServer(new TcpServerStageOptions { Framing = FramingSpec.Parse("zmtp,socket=push,message=single") }.On(Transport));
        await h.StartAsync();
        using var peer = Python("""
            import sys, zmq
            ctx = zmq.Context()
            s = ctx.socket(zmq.PULL)
            s.connect(sys.argv[1])
            for _ in range(3):
                print(s.recv().decode(), flush=True)
            """, $"tcp://{h.EndPoint}");

        // Connected is raised when the ZMTP handshake is done, not at accept: from then on egress flows.
        var connected = await h.WaitForEventAsync<ConnectedEvent>();
        Assert.Equal(1, await h.Stage.BroadcastAsync("one"u8.ToArray()));
        Assert.True(await h.Stage.SendAsync(connected.ConnectionId, "two"u8.ToArray()));
        Assert.Equal(1, await h.Stage.BroadcastAsync(new byte[300]));

        using var deadline = new CancellationTokenSource(Limit);
        Assert.True(await peer.WaitExitAsync(deadline.Token) == 0, peer.Output);
        Assert.Contains("one\ntwo\n", peer.Output.Replace("\r", ""));
    }

    [PythonZmqFact]
    public async Task A_libzmq_PUSH_peer_is_refused_by_a_zmtp_push_stage_and_never_connected()
    {
        await using var h = new FerryTestServer(new TcpServerStageOptions { Framing = FramingSpec.Parse("zmtp,socket=push") }.On(Transport));
        await h.StartAsync();
        using var peer = Python("""
            import sys, zmq
            ctx = zmq.Context()
            s = ctx.socket(zmq.PUSH)
            s.setsockopt(zmq.LINGER, 0)
            s.connect(sys.argv[1])
            import time; time.sleep(0.5)
            s.close()
            ctx.term()
            """, $"tcp://{h.EndPoint}");
        var closed = await h.WaitForEventAsync<DisconnectedEvent>();
        // Both sides refuse the other: which refusal lands first is libzmq's timing. Ferry refuses with an ERROR once it has
        // libzmq's READY (the raw peer below shows it byte for byte); libzmq reads Ferry's READY and may close before it sent
        // its own, and then Ferry sees the peer go. Never a connection either way.
        if (closed.Reason == Ferry.Connections.DisconnectReason.ProtocolError)
            Assert.Contains("socket type", closed.Detail, StringComparison.OrdinalIgnoreCase);
        else
            Assert.Equal(Ferry.Connections.DisconnectReason.RemoteClosed, closed.Reason);
        Assert.DoesNotContain(h.Events, e => e is ConnectedEvent);
        using var deadline = new CancellationTokenSource(Limit);
        await peer.WaitExitAsync(deadline.Token);
    }

    [Fact]
    public async Task A_PUSH_peer_is_sent_an_ERROR_by_a_zmtp_push_stage_and_closed_as_a_protocol_error()
    {
        await using var h = new FerryTestServer(new TcpServerStageOptions { Framing = FramingSpec.Parse("zmtp,socket=push") }.On(Transport));
        await h.StartAsync();
        using var deadline = new CancellationTokenSource(Limit);
        using var client = new System.Net.Sockets.TcpClient();
        await client.ConnectAsync(h.EndPoint, deadline.Token);
        var stream = client.GetStream();
        await stream.WriteAsync(Written(w =>
        {
            ZmtpGreeting.Write(w);
            ZmtpCommand.WriteReady(w, ZmtpSocketType.Push);
        }), deadline.Token);

        // Everything the stage writes until it closes: its greeting, its READY, then the ERROR naming the reason.
        var received = new MemoryStream();
        await stream.CopyToAsync(received, deadline.Token);
        var expected = Written(w =>
        {
            ZmtpGreeting.Write(w);
            ZmtpCommand.WriteReady(w, ZmtpSocketType.Push);
        });
        var bytes = received.ToArray();
        Assert.True(bytes.AsSpan().StartsWith(expected), "the stage's greeting and READY come first");
        Assert.True(ZmtpFrameHeader.TryRead(new System.Buffers.ReadOnlySequence<byte>(bytes, expected.Length, bytes.Length - expected.Length), out var header, out var headerLength));
        Assert.True(header.IsCommand);
        var error = ZmtpCommand.Parse(bytes.AsSpan(expected.Length + headerLength, (int)header.BodyLength));
        Assert.Equal(ZmtpCommandKind.Error, error.Kind);
        Assert.StartsWith("Invalid socket type", error.ErrorReason);
        Assert.Equal(expected.Length + headerLength + header.BodyLength, bytes.Length);

        var closed = await h.WaitForEventAsync<DisconnectedEvent>();
        Assert.Equal(Ferry.Connections.DisconnectReason.ProtocolError, closed.Reason);
        Assert.Contains("socket type", closed.Detail, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain(h.Events, e => e is ConnectedEvent);
    }

    private static byte[] Written(Action<System.Buffers.ArrayBufferWriter<byte>> write)
    {
        var buffer = new System.Buffers.ArrayBufferWriter<byte>();
        write(buffer);
        return buffer.WrittenSpan.ToArray();
    }
}
