using Ferry.Tests.Support;

namespace Ferry.Tests.Cli;

/// <summary>
/// A reply proxy held by backpressure (<c>egress_overflow: wait</c> on 'back', the upstream not answering) stops reading the
/// clients whose requests cannot go on, not its service thread: it still accepts, writes answers and runs its timers.
/// </summary>
public sealed class Proxy2BackpressureTests
{
    [Fact]
    public async Task A_request_waiting_for_room_leaves_front_accepting_and_every_answer_comes_in_order()
    {
        await using var rig = new Proxy2Rig("p2held", capacity: 2);
        await rig.StartAsync();
        await using var a = await rig.ConnectClientAsync();
        await a.SendAsync("a0\na1\na2\n");
        Assert.Equal("a0", await rig.UpstreamReadsAsync());
        Assert.Equal("a1", await rig.UpstreamReadsAsync());
        // a2 waits for room (two requests in flight on the one upstream connection, the book's bound here).
        await Poll.UntilAsync(() => rig.Published == 3, "front published a2");

        // On the old code front's service thread waited inside the publish of a2 (up to egress_wait_timeout, 60 s): a new
        // client was not accepted, nor anything else done, until an answer came.
        await using var b = await rig.ConnectClientAsync();
        await Poll.UntilAsync(() => rig.Front.ConnectionCount == 2, "front accepted a second client while a2 waits");
        // Its timers run: a stats line comes when its interval is over.
        var stats = 0;
        rig.Front.StatsPublished += (_, _) => Interlocked.Increment(ref stats);
        rig.Time.Advance(rig.Front.Options.StatsInterval);
        await Poll.UntilAsync(() => Volatile.Read(ref stats) > 0, "front published its stats while a2 waits");
        await b.SendAsync("b0\n");

        await rig.UpstreamAnswersAsync("A0\nA1\n");
        Assert.Equal("A0", (await a.ReceiveMessageAsync()).Text);
        Assert.Equal("A1", (await a.ReceiveMessageAsync()).Text);
        Assert.Equal("a2", await rig.UpstreamReadsAsync());
        Assert.Equal("b0", await rig.UpstreamReadsAsync());
        await rig.UpstreamAnswersAsync("A2\nB0\n");
        Assert.Equal("A2", (await a.ReceiveMessageAsync()).Text);
        Assert.Equal("B0", (await b.ReceiveMessageAsync()).Text);
        Assert.Empty(rig.Losses);
    }

    [Fact]
    public async Task While_a_request_waits_for_room_answers_to_other_clients_are_written()
    {
        await using var rig = new Proxy2Rig("p2answers", capacity: 2);
        await rig.StartAsync();
        await using var b = await rig.ConnectClientAsync();
        await b.SendAsync("b0\n");
        Assert.Equal("b0", await rig.UpstreamReadsAsync());
        await using var a = await rig.ConnectClientAsync();
        await a.SendAsync("a0\na1\n");
        Assert.Equal("a0", await rig.UpstreamReadsAsync());
        await Poll.UntilAsync(() => rig.Published == 3, "front published a1");
        await Poll.UntilAsync(() => rig.Book.Waiting == 2, "two requests in flight");

        // The upstream answers b0 only, and at once reads nothing more: the answer frees room for a1, which goes up; B's answer
        // is written by front's thread (on the old code it was free again by then too, so the check that matters is the
        // accept above; here, that nothing is lost or misdelivered when the held request goes on from off the thread).
        await rig.UpstreamAnswersAsync("B0\n");
        Assert.Equal("B0", (await b.ReceiveMessageAsync()).Text);
        Assert.Equal("a1", await rig.UpstreamReadsAsync());
        await rig.UpstreamAnswersAsync("A0\nA1\n");
        Assert.Equal("A0", (await a.ReceiveMessageAsync()).Text);
        Assert.Equal("A1", (await a.ReceiveMessageAsync()).Text);
        Assert.Empty(rig.Losses);
    }

    [Fact]
    public async Task The_wait_for_room_in_the_book_times_out_on_the_stages_clock()
    {
        var timeout = TimeSpan.FromSeconds(30);
        await using var rig = new Proxy2Rig("p2clock", capacity: 1, waitTimeout: timeout);
        // The wait for room is timed by a timer on the stage clock, made by the queue's sender (a task) once a1 is queued: the
        // clock is moved once it is there. Moved as soon as front had published a1, a second per step until the loss was seen,
        // the clock ran on while that task waited to run and while the loss was told (the loss read at more than 60 s under load).
        using var timed = new SemaphoreSlim(0);
        rig.Time.TimerCreated += due =>
        {
            if (due == timeout)
                timed.Release();
        };
        await rig.StartAsync();
        await using var a = await rig.ConnectClientAsync();
        await a.SendAsync("a0\na1\n");
        Assert.Equal("a0", await rig.UpstreamReadsAsync());
        await Poll.UntilAsync(() => rig.Published == 2, "front published a1");

        // On the old code the wait was timed by a Stopwatch: no timer on the stage clock, and the loss came after 30 real seconds.
        Assert.True(await timed.WaitAsync(Proxy2Rig.Deadline), "a1's wait for room timed on the stage clock for egress_wait_timeout");
        Assert.Empty(rig.Losses);
        rig.Time.Advance(timeout - TimeSpan.FromMilliseconds(1));
        Assert.Empty(rig.Losses);
        rig.Time.Advance(TimeSpan.FromMilliseconds(1));
        await Poll.UntilAsync(() => !rig.Losses.IsEmpty, "a1 given up at egress_wait_timeout");
        var loss = Assert.Single(rig.Losses);
        Assert.Contains("for egress_wait_timeout (30000 ms); the request was not sent", loss);

        // The connection is read again: its next request goes up once there is room.
        await rig.UpstreamAnswersAsync("A0\n");
        Assert.Equal("A0", (await a.ReceiveMessageAsync()).Text);
        await a.SendAsync("a2\n");
        Assert.Equal("a2", await rig.UpstreamReadsAsync());
    }

    [Fact]
    public async Task A_request_waiting_for_room_in_backs_full_egress_leaves_front_accepting()
    {
        // Small socket buffers on both ends of the upstream connection and 4 KiB of egress in 'back': 400 KB of requests
        // cannot all be taken while the upstream reads nothing.
        await using var rig = new Proxy2Rig("p2full", backEgressBytes: 4096, smallSocketBuffers: 4096);
        await rig.StartAsync();
        await using var a = await rig.ConnectClientAsync();
        var requests = Enumerable.Range(0, 400).Select(i => $"a{i:D3}" + new string('.', 995)).ToArray();
        var sending = a.SendAsync(string.Concat(requests.Select(r => r + "\n")));
        // How many requests the upstream's buffers take before one must wait depends on front's reads (timing): wait for that one.
        await Poll.UntilAsync(() => rig.Requests.Pumping && rig.Book.Sending, "a request waiting for room in back's egress");

        // On the old code front's thread waited in the publish for room in back's egress (egress_wait_timeout, 60 s).
        await using var b = await rig.ConnectClientAsync();
        await Poll.UntilAsync(() => rig.Front.ConnectionCount == 2, "front accepted a second client while back's egress is full");

        rig.UpstreamEchoes();
        foreach (var request in requests)
            Assert.Equal(request, (await a.ReceiveMessageAsync()).Text);
        await sending;
        await b.SendAsync("b0\n");
        Assert.Equal("b0", (await b.ReceiveMessageAsync()).Text);
        Assert.Empty(rig.Losses);
    }
}
