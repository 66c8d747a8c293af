using Ferry.Transport;
using System.Net;
using System.Net.Sockets;
using Ferry.Stages;
using Ferry.Tests.Support;

namespace Ferry.Tests.Stages;

public abstract class BindTests(StageTransport transport)
{
    /// <summary>These tests on the epoll transport.</summary>
    public sealed class OnEpoll() : BindTests(StageTransport.Epoll);

    /// <summary>These tests on the portable stream transport.</summary>
    public sealed class OnStream() : BindTests(StageTransport.Stream);

    private StageTransport Transport => transport;

    /// <summary>A listening socket that keeps a loopback port busy until disposed.</summary>
    private static (Socket Holder, int Port) HoldAPort() => (FreePorts.Taken(out var port), port);

    [Fact]
    public async Task Bind_is_retried_while_the_port_is_taken_and_succeeds_once_released()
    {
        var (holder, port) = HoldAPort();
        var time = new StageTime();
        await using var h = new FerryTestServer(new TcpServerStageOptions
        {
            Bind = $"127.0.0.1:{port}",
            BindRetryDelay = TimeSpan.FromMilliseconds(20),
            BindRetryMaxDelay = TimeSpan.FromMilliseconds(80),
        }.On(Transport), time: time);
        int BindFailures() => h.Events.OfType<StageErrorEvent>().Count(e => e.Kind == StageErrorKind.Bind);
        h.Stage.Start();
        await Poll.UntilAsync(() => BindFailures() == 1, "the first bind failure");
        await h.AdvanceAsync(TimeSpan.FromMilliseconds(19));
        Assert.Equal(1, BindFailures()); // not retried before its delay
        time.Advance(TimeSpan.FromMilliseconds(1));
        await Poll.UntilAsync(() => BindFailures() == 2, "a second bind failure");
        time.Advance(TimeSpan.FromMilliseconds(40));
        await Poll.UntilAsync(() => BindFailures() == 3, "a third bind failure");
        Assert.False(h.Stage.WaitListeningAsync().IsCompleted);
        Assert.Contains("AddressAlreadyInUse", h.Events.OfType<StageErrorEvent>().First().Message);

        holder.Dispose();
        time.Advance(TimeSpan.FromMilliseconds(80));
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        var bound = await h.Stage.WaitListeningAsync(cts.Token);
        Assert.Equal(port, bound.Port);
        using var client = await FramedTestClient.ConnectAsync(bound);
        await client.SendAsync("after retry");
        await h.WaitForPacketsAsync(p => p.Count == 1, "a packet after the bind succeeded");
    }

    [Fact]
    public async Task With_bind_attempts_the_stage_gives_up_stops_and_StartAsync_fails_with_the_reason()
    {
        var (holder, port) = HoldAPort();
        using (holder)
        {
            var time = new StageTime();
            await using var h = new FerryTestServer(new TcpServerStageOptions
            {
                Bind = $"127.0.0.1:{port}",
                BindAttempts = 2,
                BindRetryDelay = TimeSpan.FromMilliseconds(10),
            }.On(Transport), time: time);
            var starting = h.Stage.StartAsync();
            await h.WaitForEventAsync<StageErrorEvent>(e => e.Kind == StageErrorKind.Bind);
            await h.AdvanceAsync(TimeSpan.FromMilliseconds(9));
            Assert.False(starting.IsCompleted); // the second attempt waits for the retry delay
            time.Advance(TimeSpan.FromMilliseconds(1));
            var error = await Assert.ThrowsAsync<IOException>(() => starting.WaitAsync(TimeSpan.FromSeconds(10)));
            Assert.Contains($"127.0.0.1:{port}", error.Message);
            Assert.Contains("gave up after 2 bind attempts", error.Message);
            await h.Stage.StopAsync().WaitAsync(TimeSpan.FromSeconds(10)); // the stage stopped itself
            Assert.Equal(2, h.Events.OfType<StageErrorEvent>().Count(e => e.Kind == StageErrorKind.Bind && e.Message.Contains("retrying")) + 1);
        }
    }

    [Fact]
    public async Task A_listening_handler_finds_the_wait_for_listening_complete()
    {
        // Session 17: the acceptor raised Listening before it completed the wait, so a handler of the event found
        // WaitListeningAsync not complete yet (the client stage's Connected had the same fault, fixed in 38a1928).
        await using var stage = new TcpServerStage(new TcpServerStageOptions { Bind = "127.0.0.1:0" }.On(Transport));
        string? seen = null;
        stage.Listening += (_, e) => Volatile.Write(ref seen,
            $"{stage.WaitListeningAsync().IsCompletedSuccessfully} {stage.LocalEndPoint?.Port == e.LocalEndPoint.Port}");
        await stage.StartAsync(new CancellationTokenSource(TimeSpan.FromSeconds(10)).Token);
        // And the caller who awaited the start resumes after the handlers: what they recorded is there.
        Assert.Equal("True True", Volatile.Read(ref seen));
    }

    [Fact]
    public async Task A_caller_told_that_binding_failed_finds_the_stage_stopped_and_its_name_free()
    {
        // Session 17: StartAsync failed ("the stage has stopped") as soon as the last bind attempt failed, before the stage
        // had stopped: inside its Closed event the failure was already out, and the caller it woke could find StopAsync not
        // complete and a new stage of the same name on the same bus refused ("already runs"), the name not given back yet.
        var (holder, port) = HoldAPort();
        using (holder)
        {
            var bus = new Ferry.Bus.InProcessBus();
            var stage = new TcpServerStage(new TcpServerStageOptions { Name = "gives_up", Bind = $"127.0.0.1:{port}", BindAttempts = 1 }.On(Transport), bus);
            string? inClosed = null;
            stage.Closed += (_, _) => Volatile.Write(ref inClosed, $"closed: {stage.WaitListeningAsync().IsCompleted}");
            var error = await Assert.ThrowsAsync<IOException>(() => stage.StartAsync().WaitAsync(TimeSpan.FromSeconds(10)));
            Assert.Contains("gave up after 1 bind attempt", error.Message);
            Assert.True(stage.StopAsync().IsCompleted, "the stage has stopped when the failure is out");
            Assert.Equal("closed: False", Volatile.Read(ref inClosed));
            await using var next = new TcpServerStage(new TcpServerStageOptions { Name = "gives_up", Bind = "127.0.0.1:0" }.On(Transport), bus);
            await next.StartAsync(new CancellationTokenSource(TimeSpan.FromSeconds(10)).Token);
            // Asked after the stop, the answer is there at once.
            Assert.True(stage.WaitListeningAsync().IsFaulted);
            await stage.DisposeAsync();
        }
    }

    [Fact]
    public async Task A_caller_told_that_the_stage_stopped_before_it_listened_finds_it_stopped()
    {
        // As above for a stop while the bind is being retried: the wait was cancelled inside the loop's end, before the
        // Closed event and the release of the name.
        var (holder, port) = HoldAPort();
        using (holder)
        {
            var bus = new Ferry.Bus.InProcessBus();
            var time = new StageTime(); // the retry never comes
            var stage = new TcpServerStage(new TcpServerStageOptions { Name = "stopped_early", Bind = $"127.0.0.1:{port}" }.On(Transport), bus, timeProvider: time);
            var failures = 0;
            stage.Error += (_, _) => Interlocked.Increment(ref failures);
            string? inClosed = null;
            stage.Closed += (_, _) => Volatile.Write(ref inClosed, $"closed: {stage.WaitListeningAsync().IsCompleted}");
            stage.Start();
            await Poll.UntilAsync(() => Volatile.Read(ref failures) >= 1, "the first bind failure");
            var waiting = stage.WaitListeningAsync();
            _ = stage.StopAsync();
            var ended = await Assert.ThrowsAnyAsync<OperationCanceledException>(() => waiting.WaitAsync(TimeSpan.FromSeconds(10)));
            Assert.Equal("stage 'stopped_early' was stopped before it listened", ended.Message);
            Assert.True(stage.StopAsync().IsCompleted, "the stage has stopped when the wait is cancelled");
            Assert.Equal("closed: False", Volatile.Read(ref inClosed));
            await using var next = new TcpServerStage(new TcpServerStageOptions { Name = "stopped_early", Bind = "127.0.0.1:0" }.On(Transport), bus);
            // And the other way round: whoever awaited the stop finds the wait ended at once.
            Assert.True(stage.WaitListeningAsync().IsCanceled);
            await stage.DisposeAsync();
        }
    }

    [Fact]
    public async Task An_unresolvable_bind_host_is_reported_as_a_name_that_does_not_resolve()
    {
        await using var stage = new TcpServerStage(new TcpServerStageOptions { Bind = "no-such-host.invalid:0", BindAttempts = 1 });
        var errors = new System.Collections.Concurrent.ConcurrentQueue<StageErrorEvent>();
        stage.Error += (_, e) => errors.Enqueue(e);
        var failure = await Assert.ThrowsAsync<IOException>(() => stage.StartAsync());
        Assert.Contains("the name 'no-such-host.invalid' does not resolve", failure.Message);
        Assert.Contains(errors, e => e.Kind == StageErrorKind.Bind && e.Message.Contains("does not resolve", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_second_stage_never_shares_a_port_another_stage_listens_on()
    {
        await using var first = new FerryTestServer(new TcpServerStageOptions { Bind = "127.0.0.1:0" }.On(Transport));
        await first.StartAsync();
        var bound = first.EndPoint!;
        await using var second = new FerryTestServer(new TcpServerStageOptions { Bind = $"127.0.0.1:{bound.Port}", BindAttempts = 1 }.On(Transport));
        var error = await Assert.ThrowsAsync<IOException>(() => second.Stage.StartAsync());
        Assert.Contains("AddressAlreadyInUse", error.Message);
    }

    [Fact]
    public async Task Bind_retry_backs_off_up_to_the_cap()
    {
        var (holder, port) = HoldAPort();
        var time = new StageTime();
        await using var h = new FerryTestServer(new TcpServerStageOptions
        {
            Bind = $"127.0.0.1:{port}",
            BindRetryDelay = TimeSpan.FromMilliseconds(10),
            BindRetryMaxDelay = TimeSpan.FromMilliseconds(40),
        }.On(Transport), time: time);
        var start = time.GetUtcNow();
        h.Stage.Start();
        // Each retry is due exactly its announced delay after the failure before it: 10, 20, 40, 40 ms.
        await Poll.UntilAsync(() => h.Events.OfType<StageErrorEvent>().Count() == 1, "the first bind failure");
        foreach (var delay in new[] { 10, 20, 40, 40 })
        {
            var failures = h.Events.OfType<StageErrorEvent>().Count();
            await h.AdvanceAsync(TimeSpan.FromMilliseconds(delay - 1));
            Assert.Equal(failures, h.Events.OfType<StageErrorEvent>().Count());
            time.Advance(TimeSpan.FromMilliseconds(1));
            await Poll.UntilAsync(() => h.Events.OfType<StageErrorEvent>().Count() == failures + 1, $"the retry after {delay} ms");
        }
        var errors = h.Events.OfType<StageErrorEvent>().Take(5).ToList();
        var messages = errors.Select(e => e.Message).ToList();
        Assert.Contains("retrying in 10 ms", messages[0]);
        Assert.Contains("retrying in 20 ms", messages[1]);
        Assert.Contains("retrying in 40 ms", messages[2]);
        Assert.Contains("retrying in 40 ms", messages[3]);
        Assert.Equal([0.0, 10, 30, 70, 110], errors.Select(e => (e.Time - start).TotalMilliseconds));
        holder.Dispose();
    }

    [Fact]
    public async Task A_listener_that_fails_is_rebuilt_and_existing_connections_live_on()
    {
        await using var h = new FerryTestServer(new TcpServerStageOptions { BindRetryDelay = TimeSpan.FromMilliseconds(10) }.On(Transport));
        await h.StartAsync();
        using var before = await h.ConnectAsync();
        var beforeId = (await h.WaitForConnectionAsync(before.LocalEndPoint)).ConnectionId;

        h.Stage.BreakListenerForTest();
        await h.WaitForEventAsync<StageErrorEvent>(e => e.Kind == StageErrorKind.Accept && e.Message.Contains("rebuilding"));
        await Poll.UntilAsync(() => h.Events.OfType<ListeningEvent>().Count() == 2, "a second listening event");
        Assert.Equal(h.EndPoint.Port, h.Events.OfType<ListeningEvent>().Last().LocalEndPoint.Port);

        using var after = await h.ConnectAsync();
        await h.WaitForConnectionAsync(after.LocalEndPoint);
        await before.SendAsync("old");
        await after.SendAsync("new");
        var packets = await h.WaitForPacketsAsync(p => p.Count == 2, "packets from old and new clients");
        Assert.Contains(packets, p => p.Connection == beforeId);
        Assert.DoesNotContain(h.Events.OfType<DisconnectedEvent>(), e => e.ConnectionId == beforeId);
    }
}
