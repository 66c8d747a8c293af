using Ferry.Bridge;
using Ferry.Tests.Support;

namespace Ferry.Tests.Bridge;

/// <summary>
/// Ferry against real libzmq (Debian's python3-zmq) laid out as Rogue lays out its sockets. The python
/// peer checks every byte and header field it receives; the test checks everything Ferry receives.
/// Reported as skipped, never passed, when python3-zmq is missing.
/// </summary>
[Collection(LibzmqCollection.Name)]
public sealed class LibzmqInteropTests
{
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(60);
    private const string Loopback = "127.0.0.1";
    private static readonly int[] Sizes = [0, 1, 2, 255, 256, 4096, 65_536, 1_000_000, 8 * 1024 * 1024];
    private static readonly string SizesArgument = string.Join(',', Sizes);

    [PythonZmqFact]
    public async Task Ferry_server_and_libzmq_client_exchange_frames_both_ways()
    {
        int port = FreePorts.Pair();
        var logs = new CapturingLoggerFactory();
        CancellationToken deadline = Deadline.In(Limit);
        await using var server = new FrameBridgeServer(Loopback, port, new FrameBridgeOptions { LoggerFactory = logs });
        using PeerProcess peer = PythonZmq.Start("client", Loopback, port.ToString(), "--count", "40", "--sizes", SizesArgument);

        await server.WaitReadyAsync(deadline);
        await ExchangeAsync(server, peer, logs, 40, deadline);
    }

    [PythonZmqFact]
    public async Task Ferry_client_and_libzmq_server_exchange_frames_both_ways()
    {
        int port = FreePorts.Pair();
        var logs = new CapturingLoggerFactory();
        CancellationToken deadline = Deadline.In(Limit);
        using PeerProcess peer = PythonZmq.Start("server", Loopback, port.ToString(), "--count", "40", "--sizes", SizesArgument);
        await peer.WaitStartedAsync(deadline);
        await using var client = new FrameBridgeClient(Loopback, port, new FrameBridgeOptions { LoggerFactory = logs });

        await client.WaitReadyAsync(deadline);
        await ExchangeAsync(client, peer, logs, 40, deadline);
    }

    [PythonZmqFact]
    public async Task Libzmq_heartbeats_are_answered_so_an_idle_bridge_stays_connected()
    {
        int port = FreePorts.Pair();
        var logs = new CapturingLoggerFactory();
        CancellationToken deadline = Deadline.In(Limit);
        await using var server = new FrameBridgeServer(Loopback, port, new FrameBridgeOptions { LoggerFactory = logs });
        // libzmq PINGs every 100 ms and drops a connection that sends nothing within 5 s of a PING (long
        // enough for a stalled process on a busy machine); the peer idles 7 s, past that timeout, and
        // nothing but our PONGs travels towards its PUSH socket.
        using PeerProcess peer = PythonZmq.Start("client", Loopback, port.ToString(), "--count", "5", "--sizes", "10",
            "--heartbeat-ms", "100", "--heartbeat-timeout-ms", "5000", "--idle-ms", "7000");

        await server.WaitReadyAsync(deadline);
        await ExchangeAsync(server, peer, logs, 5, deadline);
        Assert.Equal(2, server.Counters.Connections); // one per port: never reconnected
    }

    [PythonZmqFact]
    public async Task Libzmq_echo_returns_frames_unchanged_through_a_ferry_client()
    {
        int port = FreePorts.Pair();
        var logs = new CapturingLoggerFactory();
        CancellationToken deadline = Deadline.In(Limit);
        using PeerProcess peer = PythonZmq.Start("server", Loopback, port.ToString(), "--mode", "echo", "--count", "200");
        await peer.WaitStartedAsync(deadline);
        await using var client = new FrameBridgeClient(Loopback, port, new FrameBridgeOptions { LoggerFactory = logs });
        await client.WaitReadyAsync(deadline);

        var random = new Random(77);
        Frame[] sent = Enumerable.Range(0, 200).Select(i => BridgeFrames.Random(random, i % 50 == 0 ? 300_000 : random.Next(0, 2000))).ToArray();
        Task sending = FerryToFerryTests.SendAllAsync(client, sent, deadline);
        List<Frame> echoed;
        try
        {
            echoed = await FerryToFerryTests.ReadAsync(client, sent.Length, deadline);
            await sending;
        }
        catch (OperationCanceledException e)
        {
            throw new TimeoutException($"echo did not finish: sent {client.Counters.FramesSent}, received {client.Counters.FramesReceived}\nbridge log:\n{logs.Text}\npeer:\n{peer.Output}", e);
        }

        for (int i = 0; i < sent.Length; i++)
            BridgeFrames.AssertSame(sent[i], echoed[i], $"echo {i}");
        Assert.Equal(0, await peer.WaitExitAsync(deadline));
    }

    private static async Task ExchangeAsync(IFrameBridge bridge, PeerProcess peer, CapturingLoggerFactory logs, int count, CancellationToken deadline)
    {
        try
        {
            await ExchangeCoreAsync(bridge, peer, count, deadline);
        }
        catch (Exception e) when (e is OperationCanceledException or TimeoutException)
        {
            throw new TimeoutException($"exchange did not finish\nbridge log:\n{logs.Text}\npeer:\n{peer.Output}", e);
        }
    }

    private static async Task ExchangeCoreAsync(IFrameBridge bridge, PeerProcess peer, int count, CancellationToken deadline)
    {
        Task sending = FerryToFerryTests.SendAllAsync(bridge, Enumerable.Range(0, count).Select(i => BridgeFrames.Generate(i, Sizes.Length > 0 ? SizesFor(count) : Sizes)), deadline);
        List<Frame> received = await FerryToFerryTests.ReadAsync(bridge, count, deadline);
        await sending;

        for (int i = 0; i < count; i++)
            BridgeFrames.AssertSame(BridgeFrames.Generate(i, SizesFor(count)), received[i], $"libzmq->Ferry frame {i}");
        // The peer's first message had 3 parts: Ferry dropped and counted it and kept going.
        Assert.Equal(1, bridge.Counters.MessagesDropped);

        int exit = await peer.WaitExitAsync(deadline);
        Assert.True(exit == 0, "the libzmq peer found a problem in what Ferry sent\n" + peer.Output);
        Assert.Contains("\"failures\": []", peer.Output);
    }

    // The heartbeat test sends 10-byte frames only; the others use the full size ladder.
    private static int[] SizesFor(int count) => count == 5 ? [10] : Sizes;
}
