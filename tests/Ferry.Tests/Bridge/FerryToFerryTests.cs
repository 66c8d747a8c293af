using Ferry.Stages;
using Ferry.Transport;
using Ferry.Bridge;
using Ferry.Tests.Support;

namespace Ferry.Tests.Bridge;

public abstract class FerryToFerryTests(StageTransport transport)
{
    /// <summary>These tests on the epoll transport.</summary>
    public sealed class OnEpoll() : FerryToFerryTests(StageTransport.Epoll);

    /// <summary>These tests on the portable stream transport.</summary>
    public sealed class OnStream() : FerryToFerryTests(StageTransport.Stream);

    private StageTransport Transport => transport;

    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(60);
    private const string Loopback = "127.0.0.1";

    private static readonly int[] Sizes = [0, 1, 2, 100, 255, 256, 4096, 65_536, 1_000_000, 8 * 1024 * 1024];

    [Fact]
    public async Task Frames_from_0_bytes_to_8_MiB_cross_both_ways_in_order_with_their_metadata()
    {
        int port = FreePorts.Pair();
        CancellationToken deadline = Deadline.In(Limit);
        await using var server = new FrameBridgeServer(Loopback, port, new FrameBridgeOptions { Transport = Transport });
        await using var client = new FrameBridgeClient(Loopback, port, new FrameBridgeOptions { Transport = Transport });
        await Task.WhenAll(server.WaitReadyAsync(deadline), client.WaitReadyAsync(deadline));
        Assert.True(server.IsReady && client.IsReady);

        var random = new Random(1234);
        const int count = 60;
        Frame[] toServer = new Frame[count];
        Frame[] toClient = new Frame[count];
        for (int i = 0; i < count; i++)
        {
            toServer[i] = BridgeFrames.Random(random, Sizes[i % Sizes.Length]);
            toClient[i] = BridgeFrames.Random(random, Sizes[(i + 3) % Sizes.Length]);
        }

        Task sending = Task.WhenAll(SendAllAsync(client, toServer, deadline), SendAllAsync(server, toClient, deadline));
        Task<List<Frame>> atServer = ReadAsync(server, count, deadline);
        Task<List<Frame>> atClient = ReadAsync(client, count, deadline);
        await sending;

        List<Frame> gotServer = await atServer;
        List<Frame> gotClient = await atClient;
        for (int i = 0; i < count; i++)
        {
            BridgeFrames.AssertSame(toServer[i], gotServer[i], $"client->server frame {i}");
            BridgeFrames.AssertSame(toClient[i], gotClient[i], $"server->client frame {i}");
        }

        Assert.Equal(count, server.Counters.FramesReceived);
        Assert.Equal(count, client.Counters.FramesSent);
        Assert.Equal(0, server.Counters.MessagesDropped + client.Counters.MessagesDropped);
    }

    [Fact]
    public async Task Empty_payloads_work_both_ways()
    {
        int port = FreePorts.Pair();
        CancellationToken deadline = Deadline.In(Limit);
        await using var server = new FrameBridgeServer(Loopback, port, new FrameBridgeOptions { Transport = Transport });
        await using var client = new FrameBridgeClient(Loopback, port, new FrameBridgeOptions { Transport = Transport });
        await client.WaitReadyAsync(deadline);
        await server.WaitReadyAsync(deadline);

        await client.SendAsync(new Frame(ReadOnlyMemory<byte>.Empty, 0xFFFF, 255, 255), deadline);
        await server.SendAsync(new Frame(ReadOnlyMemory<byte>.Empty, 0x0001, 0, 1), deadline);

        Frame atServer = (await ReadAsync(server, 1, deadline))[0];
        Frame atClient = (await ReadAsync(client, 1, deadline))[0];
        Assert.Equal((0, (ushort)0xFFFF, (byte)255, (byte)255), (atServer.Payload.Length, atServer.Flags, atServer.Channel, atServer.Error));
        Assert.Equal((0, (ushort)1, (byte)0, (byte)1), (atClient.Payload.Length, atClient.Flags, atClient.Channel, atClient.Error));
    }

    [Fact]
    public async Task Client_started_first_connects_when_the_server_comes_up()
    {
        int port = FreePorts.Pair();
        CancellationToken deadline = Deadline.In(Limit);
        var time = new StageTime();
        var options = new FrameBridgeOptions { Transport = Transport, ReconnectDelay = TimeSpan.FromMilliseconds(20), MaxReconnectDelay = TimeSpan.FromMilliseconds(200), TimeProvider = time };
        await using var client = new FrameBridgeClient(Loopback, port, options);

        // ZMQ_IMMEDIATE: with no server, a send waits instead of queueing.
        ValueTask pending = client.SendAsync(new Frame(new byte[] { 42 }, 7, 1, 0), deadline);
        Assert.False(pending.IsCompleted);
        Assert.False(client.IsReady);
        Assert.Equal(0, client.PendingSendBytes);

        await using var server = new FrameBridgeServer(Loopback, port, new FrameBridgeOptions { Transport = Transport });
        // Each step makes the next attempt of both client stages due (the longest back-off with jitter is 240 ms).
        await time.AdvanceUntilAsync(() => client.IsReady, TimeSpan.FromMilliseconds(250), "the client to connect");
        await client.WaitReadyAsync(deadline);
        await pending;
        Frame got = (await ReadAsync(server, 1, deadline))[0];
        Assert.Equal(42, got.Payload.Span[0]);
    }

    /// <summary>A client dialling nothing (a wrong port, a server not up yet) used to say nothing at all, however long it tried.</summary>
    [Fact]
    public async Task A_client_that_cannot_connect_logs_it_once_per_outage_naming_the_address()
    {
        int port = FreePorts.Pair();
        var time = new StageTime();
        var logs = new CapturingLoggerFactory();
        await using var client = new FrameBridgeClient(Loopback, port, new FrameBridgeOptions { Transport = Transport, TimeProvider = time, LoggerFactory = logs });
        var failures = new int[2];
        client.PushStage.ConnectFailed += (_, e) => { if (!e.ConnectionLost) Interlocked.Increment(ref failures[0]); };
        client.PullStage.ConnectFailed += (_, e) => { if (!e.ConnectionLost) Interlocked.Increment(ref failures[1]); };
        int Logged(int p) => logs.Text.Split('\n').Count(line => line.Contains($" Warning Ferry.Bridge.{Loopback}.Client.{port}: ", StringComparison.Ordinal)
            && line.Contains($"cannot connect to {Loopback}:{p}: ", StringComparison.Ordinal));

        await time.AdvanceUntilAsync(() => Volatile.Read(ref failures[0]) >= 3 && Volatile.Read(ref failures[1]) >= 3, TimeSpan.FromMilliseconds(50), "three refused dials per direction");
        Assert.Equal((1, 1), (Logged(port), Logged(port + 1)));

        // Connected, then the server goes: the new outage is logged once more.
        await using var server = new FrameBridgeServer(Loopback, port, new FrameBridgeOptions { Transport = Transport });
        await time.AdvanceUntilAsync(() => client.IsReady, TimeSpan.FromMilliseconds(50), "the client to connect");
        await server.DisposeAsync(); // stopping is idempotent: the using's dispose does nothing more
        var (push, pull) = (Volatile.Read(ref failures[0]), Volatile.Read(ref failures[1]));
        await time.AdvanceUntilAsync(() => Volatile.Read(ref failures[0]) >= push + 3 && Volatile.Read(ref failures[1]) >= pull + 3, TimeSpan.FromMilliseconds(50), "three more refused dials per direction");
        Assert.Equal((2, 2), (Logged(port), Logged(port + 1)));
    }

    [Fact]
    public async Task By_default_the_client_retries_every_reconnect_delay_so_a_late_server_is_found_within_one_delay()
    {
        int port = FreePorts.Pair();
        var time = new StageTime();
        await using var client = new FrameBridgeClient(Loopback, port, new FrameBridgeOptions { Transport = Transport, TimeProvider = time });
        TcpClientStage[] stages = [client.PushStage, client.PullStage];
        // Each direction's highest refused attempt: with no connection the numbers only count up, so it is the number
        // of attempts refused, also when the handler came after the first refusal.
        var refused = new int[2];
        for (var k = 0; k < 2; k++)
        {
            var index = k;
            stages[k].ConnectFailed += (_, e) => RaiseTo(ref refused[index], e.Attempt);
        }
        // The clock stays put until the attempts that came due are over, refusal included (on the stream transport it
        // comes through the thread pool, late when that is starved). Before, the test waited until the latest event
        // was not a Connecting one, which "no event yet" satisfied: the clock ran on and the attempts fell behind it.
        Task AllRefusedAsync() => Poll.UntilAsync(() => stages.All(s => s.Dialer.AwaitingNextAttempt),
            $"the attempts due at fake +{time.ElapsedMs} ms to be refused", seen: () => $"refused {refused[0]}/{refused[1]}");
        // The first round of each stage dials attempt 1 at fake time 0.
        await time.SettleAsync(client.PushStage, client.PullStage);
        await AllRefusedAsync();
        // Two seconds of refused attempts: with a doubling back-off the next try would now be a second or more away.
        for (var i = 0; i < 20; i++)
        {
            time.Advance(TimeSpan.FromMilliseconds(100));
            await time.SettleAsync(client.PushStage, client.PullStage); // an attempt that came due has started
            await AllRefusedAsync();
        }
        Assert.False(client.IsReady);
        // Attempt 1 at 0 ms, then one 80-120 ms after each refusal: at the next step or the one after, so 11 to 21
        // attempts by 2000 ms (a doubling back-off from 100 ms makes 5: at about 0, 100, 300, 700 and 1500 ms).
        Assert.All(refused, count => Assert.InRange(count, 11, 21));
        await using var server = new FrameBridgeServer(Loopback, port, new FrameBridgeOptions { Transport = Transport });
        // One delay later (100 ms, at most 20 % jitter) both directions retry and connect, as libzmq's would.
        time.Advance(TimeSpan.FromMilliseconds(125));
        await client.WaitReadyAsync(Deadline.In(Limit));
        Assert.True(client.IsReady);
    }

    private static void RaiseTo(ref int highest, int value)
    {
        var seen = Volatile.Read(ref highest);
        while (value > seen)
        {
            var was = Interlocked.CompareExchange(ref highest, value, seen);
            if (was == seen)
                return;
            seen = was;
        }
    }

    [Fact]
    public void A_reconnect_cap_below_the_delay_is_refused_zero_means_no_back_off()
    {
        var refused = Assert.Throws<ArgumentOutOfRangeException>(() =>
            new FrameBridgeClient(Loopback, FreePorts.Pair(), new FrameBridgeOptions { Transport = Transport, ReconnectDelay = TimeSpan.FromSeconds(1), MaxReconnectDelay = TimeSpan.FromMilliseconds(500) }));
        Assert.Equal("MaxReconnectDelay", refused.ParamName);
        Assert.Contains("must be zero (no back-off) or at least ReconnectDelay (00:00:01)", refused.Message);
    }

    [Fact]
    public async Task Client_reconnects_after_a_server_restart_mid_stream()
    {
        int port = FreePorts.Pair();
        CancellationToken deadline = Deadline.In(Limit);
        var time = new StageTime();
        var options = new FrameBridgeOptions { Transport = Transport, ReconnectDelay = TimeSpan.FromMilliseconds(20), MaxReconnectDelay = TimeSpan.FromMilliseconds(200), TimeProvider = time };
        await using var client = new FrameBridgeClient(Loopback, port, options);
        var first = new FrameBridgeServer(Loopback, port, new FrameBridgeOptions { Transport = Transport });
        // The client started first: its first attempts may have been refused.
        await time.AdvanceUntilAsync(() => client.IsReady, TimeSpan.FromMilliseconds(250), "the client to connect");
        await client.WaitReadyAsync(deadline);

        // Sequence numbers in the payload show what the restart cost.
        int next = 0;
        for (; next < 100; next++)
            await client.SendAsync(Numbered(next), deadline);
        List<Frame> before = await ReadAsync(first, 100, deadline);
        Assert.Equal(Enumerable.Range(0, 100), before.Select(SequenceOf));

        // Keep sending while the server goes away and comes back; sends wait (or sit in the bounded
        // queue) while it is away.
        var restarted = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        int firstAfterRestart = -1;
        Task<int> streaming = Task.Run(async () =>
        {
            int i = 100;
            while (!restarted.Task.IsCompleted)
                await client.SendAsync(Numbered(i++), deadline);
            firstAfterRestart = i;
            for (int end = i + 50; i < end; i++)
                await client.SendAsync(Numbered(i), deadline);
            return i - 1;
        });
        await Deadline.UntilAsync(() => client.Counters.FramesSent > 150, Limit, "frames flowing to the first server");
        await first.StopAsync();
        Assert.False(FreePorts.Listens(port) || FreePorts.Listens(port + 1), "a stopped server releases both ports");
        await Deadline.UntilAsync(() => !client.IsReady, Limit, "the client to notice the restart");

        await using var second = new FrameBridgeServer(Loopback, port, new FrameBridgeOptions { Transport = Transport });
        // Read as frames arrive: the stream does not pause for the reconnect, and a server nobody
        // reads pushes back on the sender until it waits, as it should.
        var after = new List<int>();
        int newest = -1;
        using var stopReading = CancellationTokenSource.CreateLinkedTokenSource(deadline);
        Task reading = Task.Run(async () =>
        {
            try
            {
                await foreach (Frame frame in second.ReadAllAsync(stopReading.Token))
                {
                    int sequence = SequenceOf(frame);
                    lock (after)
                        after.Add(sequence);
                    Volatile.Write(ref newest, sequence);
                }
            }
            catch (OperationCanceledException) when (stopReading.IsCancellationRequested)
            {
            }
        });
        // The new server's readiness, not the client's: until the client's PUSH stage has noticed the
        // old connection die (a busy machine can delay that past the PULL side's reconnect), the client
        // still counts it, and frames handed to it are lost with it, as they are with ZeroMQ.
        await time.AdvanceUntilAsync(() => second.IsReady && client.IsReady, TimeSpan.FromMilliseconds(250), "the client to reconnect");
        await second.WaitReadyAsync(deadline);
        await client.WaitReadyAsync(deadline);
        restarted.SetResult();
        int last = await streaming;
        await Deadline.UntilAsync(() => Volatile.Read(ref newest) == last, Limit, "the last frame at the new server");
        stopReading.Cancel();
        await reading;

        // The design's promise (ZeroMQ's): after reconnecting, every frame queued or sent later arrives,
        // in order, without duplicates; frames already on the wire to the old server when it stopped
        // (in its socket buffers or its unread receive queue) are lost with it.
        Assert.True(after.Count > 0 && after[^1] - after[0] + 1 == after.Count, "the new server sees one contiguous, ordered run");
        Assert.True(after[0] <= firstAfterRestart, $"nothing sent after the reconnect is lost (first seen {after[0]}, first sent after {firstAfterRestart})");
        Assert.Equal(0, second.Counters.MessagesDropped);
    }

    [Fact]
    public async Task Stop_releases_both_ports_and_later_sends_fail_clearly()
    {
        int port = FreePorts.Pair();
        CancellationToken deadline = Deadline.In(Limit);
        var server = new FrameBridgeServer(Loopback, port, new FrameBridgeOptions { Transport = Transport });
        var client = new FrameBridgeClient(Loopback, port, new FrameBridgeOptions { Transport = Transport });
        await client.WaitReadyAsync(deadline);

        Task<List<Frame>> reading = ReadAllUntilEndAsync(client, deadline);
        await client.StopAsync();
        await server.StopAsync();
        await server.StopAsync(); // idempotent

        Assert.False(FreePorts.Listens(port) || FreePorts.Listens(port + 1));
        Assert.Empty(await reading); // ReadAllAsync ends at stop
        await Assert.ThrowsAsync<ObjectDisposedException>(async () => await server.SendAsync(new Frame(new byte[1]), deadline));
        await Assert.ThrowsAsync<ObjectDisposedException>(async () => await client.SendAsync(new Frame(new byte[1]), deadline));
        await Assert.ThrowsAsync<ObjectDisposedException>(() => client.WaitReadyAsync(deadline));
    }

    [Fact]
    public async Task A_reader_never_finds_a_frame_it_has_read_missing_from_the_counters()
    {
        // Session 17: the PULL stage's thread wrote a frame to the receive queue and counted it (FramesReceived) only
        // afterwards, so a reader could hold a frame the counters did not show yet (FerryToFerryTests compares them once
        // everything is read). The reader here spins on TryRead to be there as soon as a frame is.
        int port = FreePorts.Pair();
        CancellationToken deadline = Deadline.In(Limit);
        await using var server = new FrameBridgeServer(Loopback, port, new FrameBridgeOptions { Transport = Transport });
        await using var client = new FrameBridgeClient(Loopback, port, new FrameBridgeOptions { Transport = Transport });
        await Task.WhenAll(server.WaitReadyAsync(deadline), client.WaitReadyAsync(deadline));
        const int count = 50_000;
        var behind = 0;
        var reading = Task.Factory.StartNew(() =>
        {
            for (var read = 0; read < count && !deadline.IsCancellationRequested;)
            {
                if (!server.TryRead(out _))
                    continue;
                read++;
                if (server.Counters.FramesReceived < read)
                    behind++;
            }
        }, TaskCreationOptions.LongRunning);
        var frame = new Frame(new byte[8]);
        for (var i = 0; i < count; i++)
            await client.SendAsync(frame, deadline);
        await reading.WaitAsync(deadline);
        Assert.Equal(0, behind);
        Assert.Equal(count, server.Counters.FramesReceived);
    }

    [Fact]
    public async Task An_end_that_is_stopping_is_not_ready()
    {
        // Session 17: IsReady stayed true from the start of a stop until the stages' loops had closed the peers' connections
        // (after the drain, up to StopGracePeriod), while sends and WaitReadyAsync already failed as "stopped": a sender told
        // of the stop by its failed send found the end still ready. Both server stages are held inside a StatsPublished
        // handler here, so their peers cannot leave before the check.
        int port = FreePorts.Pair();
        CancellationToken deadline = Deadline.In(Limit);
        var time = new StageTime();
        await using var server = new FrameBridgeServer(Loopback, port, new FrameBridgeOptions { Transport = Transport, TimeProvider = time });
        await using var client = new FrameBridgeClient(Loopback, port, new FrameBridgeOptions { Transport = Transport, TimeProvider = time });
        await Task.WhenAll(server.WaitReadyAsync(deadline), client.WaitReadyAsync(deadline));

        using var release = new ManualResetEventSlim();
        var held = 0;
        void Hold(object? sender, SocketStats e)
        {
            Interlocked.Increment(ref held);
            release.Wait(Poll.DefaultTimeout);
        }
        server.PushStage.StatsPublished += Hold;
        server.PullStage.StatsPublished += Hold;
        time.Advance(server.PushStage.Options.StatsInterval);
        await Poll.UntilAsync(() => Volatile.Read(ref held) >= 2, "both server stages held");

        Task stopping = server.StopAsync();
        try
        {
            Assert.Equal((1, 1), (server.PushStage.ConnectionCount, server.PullStage.ConnectionCount)); // the peers are still there
            Assert.False(server.IsReady);
            await Assert.ThrowsAsync<ObjectDisposedException>(async () => await server.SendAsync(new Frame(new byte[1]), deadline));
            await Assert.ThrowsAsync<ObjectDisposedException>(() => server.WaitReadyAsync(deadline));
        }
        finally
        {
            server.PushStage.StatsPublished -= Hold;
            server.PullStage.StatsPublished -= Hold;
            release.Set();
        }
        await stopping.WaitAsync(deadline);
        Assert.False(server.IsReady);
    }

    [Fact]
    public async Task A_send_waiting_for_an_absent_peer_times_out_or_is_cancelled_or_fails_at_stop()
    {
        int port = FreePorts.Pair();
        var time = new StageTime();
        await using var server = new FrameBridgeServer(Loopback, port, new FrameBridgeOptions { Transport = Transport, SendTimeout = TimeSpan.FromMilliseconds(100), TimeProvider = time });
        Task timingOut = server.SendAsync(new Frame(new byte[1])).AsTask();
        time.Advance(TimeSpan.FromMilliseconds(99));
        Assert.False(timingOut.IsCompleted);
        time.Advance(TimeSpan.FromMilliseconds(1));
        await Assert.ThrowsAsync<TimeoutException>(() => timingOut);

        using var cancel = new CancellationTokenSource(TimeSpan.FromMilliseconds(50), time);
        var patient = new FrameBridgeServer(Loopback, FreePorts.Pair(), new FrameBridgeOptions { Transport = Transport, TimeProvider = time });
        Task cancelled = patient.SendAsync(new Frame(new byte[1]), cancel.Token).AsTask();
        time.Advance(TimeSpan.FromMilliseconds(50));
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => cancelled);

        ValueTask waiting = patient.SendAsync(new Frame(new byte[1]));
        await patient.StopAsync();
        await Assert.ThrowsAsync<ObjectDisposedException>(async () => await waiting);
    }

    [Fact]
    public async Task A_send_that_times_out_on_a_service_thread_throws_to_its_caller_elsewhere()
    {
        // The send timeout is a timer on the bridge's clock, which fires on the thread that moves the clock: here a fake clock
        // moved by another stage's service thread (a Connected handler). The caller must not go on on that thread.
        var time = new StageTime();
        await using var server = new FrameBridgeServer(Loopback, FreePorts.Pair(), new FrameBridgeOptions { Transport = Transport, SendTimeout = TimeSpan.FromMilliseconds(100), TimeProvider = time });
        await using var mover = new FerryTestServer(new TcpServerStageOptions().On(Transport), time: time);
        var serviceThread = -1;
        mover.Stage.Connected += (_, _) =>
        {
            Volatile.Write(ref serviceThread, Environment.CurrentManagedThreadId);
            time.Advance(TimeSpan.FromSeconds(1));
        };
        await mover.StartAsync();
        var sending = SendAndTellTheThreadOfTheTimeoutAsync(server);
        Assert.False(sending.IsCompleted);
        using var client = await mover.ConnectAsync();
        var resumedOn = await sending.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.NotEqual(-1, Volatile.Read(ref serviceThread));
        Assert.NotEqual(Volatile.Read(ref serviceThread), resumedOn);
    }

    /// <summary>Sends with no peer; answers the managed id of the thread the caller goes on with when the send times out.</summary>
    private static async Task<int> SendAndTellTheThreadOfTheTimeoutAsync(FrameBridgeServer server)
    {
        try
        {
            // ConfigureAwait(false): go on wherever the send ends, as library code does (xunit's context would post it).
            await server.SendAsync(new Frame(new byte[1])).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            return Environment.CurrentManagedThreadId;
        }
        throw new InvalidOperationException("the send went through with no peer");
    }

    [Fact]
    public async Task Binding_a_busy_port_fails_with_a_clear_message()
    {
        int port = FreePorts.Pair();
        await using var first = new FrameBridgeServer(Loopback, port, new FrameBridgeOptions { Transport = Transport });
        var error = Assert.Throws<InvalidOperationException>(() => new FrameBridgeServer(Loopback, port + 1, new FrameBridgeOptions { Transport = Transport }));
        Assert.Contains("another process may be using this port", error.Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => new FrameBridgeServer(Loopback, 65535, new FrameBridgeOptions { Transport = Transport }));
    }

    [Fact]
    public async Task Every_log_line_of_an_end_uses_its_per_instance_category_stage_lines_included()
    {
        int port = FreePorts.Pair();
        CancellationToken deadline = Deadline.In(Limit);
        var logs = new CapturingLoggerFactory();
        var server = new FrameBridgeServer(Loopback, port, new FrameBridgeOptions { Transport = Transport, LoggerFactory = logs });
        var client = new FrameBridgeClient(Loopback, port, new FrameBridgeOptions { Transport = Transport, LoggerFactory = logs });
        await client.WaitReadyAsync(deadline);
        await server.WaitReadyAsync(deadline);
        await client.StopAsync();
        await server.StopAsync();

        string serverCategory = $"Ferry.Bridge.{Loopback}.Server.{port}: ";
        string clientCategory = $"Ferry.Bridge.{Loopback}.Client.{port}: ";
        string[] lines = logs.Text.Split('\n');
        Assert.All(lines, line => Assert.True(line.Contains(serverCategory) || line.Contains(clientCategory), line));
        Assert.Contains(lines, l => l.Contains(serverCategory + "PULL: listening on"));
        Assert.Contains(lines, l => l.Contains(serverCategory + "Bridge ready"));
        Assert.Contains(lines, l => l.Contains(clientCategory + "Bridge ready"));
    }

    [Fact]
    public async Task Graph_style_source_to_client_and_server_to_handler_pipes_carry_every_frame_in_order()
    {
        int port = FreePorts.Pair();
        CancellationToken deadline = Deadline.In(Limit);
        await using var server = new FrameBridgeServer(Loopback, port, new FrameBridgeOptions { Transport = Transport });
        await using var client = new FrameBridgeClient(Loopback, port, new FrameBridgeOptions { Transport = Transport });
        await client.WaitReadyAsync(deadline);

        const int count = 500;
        var received = new List<int>();
        var all = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var stopPipes = CancellationTokenSource.CreateLinkedTokenSource(deadline);
        // tcp >> dst: a handler sees every frame, one at a time.
        Task down = server.PipeToAsync((frame, _) =>
        {
            received.Add(SequenceOf(frame));
            if (received.Count == count)
                all.TrySetResult();
            return ValueTask.CompletedTask;
        }, stopPipes.Token);
        // src >> tcp: a producer's frames go out through the client.
        await Produce(count).ToSource().PipeToAsync(client, deadline);

        await all.Task.WaitAsync(deadline);
        Assert.Equal(Enumerable.Range(0, count), received);
        await server.StopAsync();
        await down; // the pipe ends when the bridge stops
    }

    private static async IAsyncEnumerable<Frame> Produce(int count)
    {
        for (int i = 0; i < count; i++)
        {
            if (i % 100 == 0)
                await Task.Yield();
            yield return Numbered(i);
        }
    }

    internal static Frame Numbered(int sequence)
    {
        byte[] payload = new byte[16];
        BitConverter.TryWriteBytes(payload, sequence);
        return new Frame(payload, (ushort)sequence, (byte)sequence, 0);
    }

    internal static int SequenceOf(Frame frame) => BitConverter.ToInt32(frame.Payload.Span);

    internal static async Task SendAllAsync(IFrameBridge bridge, IEnumerable<Frame> frames, CancellationToken cancellationToken)
    {
        foreach (Frame frame in frames)
            await bridge.SendAsync(frame, cancellationToken);
    }

    internal static async Task<List<Frame>> ReadAsync(IFrameBridge bridge, int count, CancellationToken cancellationToken)
    {
        var frames = new List<Frame>(count);
        if (count == 0)
            return frames;
        await foreach (Frame frame in bridge.ReadAllAsync(cancellationToken))
        {
            frames.Add(frame);
            if (frames.Count == count)
                break;
        }

        return frames;
    }

    private static async Task<List<Frame>> ReadAllUntilEndAsync(IFrameBridge bridge, CancellationToken cancellationToken)
    {
        var frames = new List<Frame>();
        await foreach (Frame frame in bridge.ReadAllAsync(cancellationToken))
            frames.Add(frame);
        return frames;
    }
}
