using System.Net.Sockets;
using Ferry.Tests.Support;

namespace Ferry.Tests.Cli;

/// <summary>
/// A request of a reply proxy that will get no answer is settled at once (a half-closed client owed nothing more is closed,
/// not kept for its whole <c>half_close_linger</c>) and counted with the pair's other losses, whatever the path that lost it.
/// The linger is 5 minutes of a fake clock that never moves: a client still owed a lost request is never closed here.
/// </summary>
public sealed class Proxy2LostRequestTests
{
    private static readonly TimeSpan Linger = TimeSpan.FromMinutes(5);

    [Fact]
    public async Task A_request_in_flight_when_the_upstream_closes_without_answering_is_lost_and_its_half_closed_client_closed()
    {
        await using var rig = new Proxy2Rig("p2lostfin", halfCloseLinger: Linger);
        await rig.StartAsync();
        await using var a = await rig.ConnectClientAsync();
        await a.SendAsync("a0\n");
        a.Socket.Shutdown(SocketShutdown.Send); // nc -N
        Assert.Equal("a0", await rig.UpstreamReadsAsync());

        rig.UpstreamCloses();
        Assert.True(await a.WaitClosedAsync(Proxy2Rig.Deadline), "the half-closed client owed a lost request was not closed");
        Assert.Equal(1, rig.Book.Loss.Unanswered);
        Assert.Contains(rig.Losses, l => l.Contains("lost its connection (remote_closed) with requests in flight", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_request_being_sent_when_the_upstream_connection_ends_is_lost_counted_once_and_its_half_closed_client_closed()
    {
        await using var rig = new Proxy2Rig("p2lostsend", halfCloseLinger: Linger);
        await rig.StartAsync();
        // The upstream reads the request and closes between back taking it and the book recording it (front's thread is
        // held there until back has told of the end). On the old code the book marked it taken when it forgot the connection
        // and then dropped it without a word: never settled (the client lingered), counted nowhere.
        using var ended = new ManualResetEventSlim();
        rig.Back.Disconnected += (_, _) => ended.Set(); // after the request route's own handler: the book forgot the connection
        string? read = null;
        rig.Book.BeforeCommitForTest = () =>
        {
            rig.Book.BeforeCommitForTest = null;
            read = rig.UpstreamReadsAsync().GetAwaiter().GetResult();
            rig.UpstreamCloses();
            ended.Wait(Proxy2Rig.Deadline);
        };
        await using var a = await rig.ConnectClientAsync();
        await a.SendAsync("a0\n");
        a.Socket.Shutdown(SocketShutdown.Send); // nc -N

        Assert.True(await a.WaitClosedAsync(Proxy2Rig.Deadline), "the half-closed client owed a request lost while being sent was not closed");
        Assert.Equal("a0", read);
        Assert.Equal(1, rig.Book.Loss.Unanswered);
        Assert.Contains(rig.Losses, l => l.Contains("lost its connection (remote_closed) with requests in flight", StringComparison.Ordinal));
        Assert.Equal(0, rig.Book.Waiting);
        Assert.True(rig.Book.WhenSettledAsync().IsCompleted, "the book still waits for the lost request");
    }

    [Fact]
    public async Task Under_wait_a_request_for_an_upstream_connection_being_closed_counts_in_backs_egress_unknown_target()
    {
        await using var rig = new Proxy2Rig("p2unknown");
        await rig.StartAsync();
        await using var a = await rig.ConnectClientAsync();
        // Back's thread is held, and its connection asked to close meanwhile (its close not yet done): the request finds the
        // connection still named back's current one, but closing. Under drop the route's send counts it as egress for an
        // unknown target; under wait (the rig's policy) the old code tried it on back's writer directly and counted nothing there.
        using var held = new ManualResetEventSlim();
        using var release = new ManualResetEventSlim();
        rig.Back.Core.Post(() =>
        {
            held.Set();
            release.Wait(Proxy2Rig.Deadline);
        });
        try
        {
            Assert.True(held.Wait(Proxy2Rig.Deadline), "back's thread did not take the hold");
            Assert.True(rig.Back.Reconnect("test"));
            await a.SendAsync("a0\n");
            // The line, not the count: the loss is counted before it is told, and the test that saw the count first found no line.
            await LossToldAsync(rig, "did not take the request", unanswered: 1);
        }
        finally
        {
            release.Set();
        }
        Assert.Equal(1, rig.Book.Loss.Unanswered);
        Assert.Equal(1, rig.Back.GetStats().EgressUnknownTargetTotal);
        Assert.Equal(0, rig.Book.Waiting);
    }

    [Fact]
    public async Task A_stop_gives_up_the_requests_still_waiting_for_room_in_backs_egress_at_once_each_counted()
    {
        // 4 KiB of egress in 'back', whose thread is held: nothing it takes is written to the upstream, so it takes exactly 4
        // of these 1000-byte requests and the 5th waits for room (egress_overflow: wait). With back's thread running, how many
        // went up before one had to wait depended on how far its writes and the upstream's socket buffers had got (timing).
        const int taken = 4;
        await using var rig = new Proxy2Rig("p2stopwait", backEgressBytes: 4096);
        await rig.StartAsync();
        await using var a = await rig.ConnectClientAsync();
        var requests = Enumerable.Range(0, 400).Select(i => $"a{i:D3}" + new string('.', 995)).ToArray();
        using var held = new ManualResetEventSlim();
        using var release = new ManualResetEventSlim();
        rig.Back.Core.Post(() =>
        {
            held.Set();
            release.Wait(Proxy2Rig.Deadline);
        });
        Task sending;
        try
        {
            Assert.True(held.Wait(Proxy2Rig.Deadline), "back's thread did not take the hold");
            sending = a.SendAsync(string.Concat(requests.Select(r => r + "\n")));
            // One request waits for room in back's egress (the queue's sender holds its reservation); those read with it in
            // front's last read queue behind it, as many as that read held past it (none when it ended there: timing), and the
            // rest stays unread in a's socket (a is not read while its requests queue). Each kind is given up by the stop.
            await Poll.UntilAsync(() => rig.Requests.Pumping && rig.Book.Sending, "a request waiting for room in back's egress");
            Assert.Equal(taken, rig.Book.Waiting);

            // The run stops (what ferry run does first): no request is sent from now on. On the old code the request waiting
            // for room in back's egress went on waiting (egress_wait_timeout, 60 s of a clock that does not move here): it and
            // every request behind it were neither sent nor counted, and the stop waited for it as if it were an answer owed.
            rig.Book.Close();
            // Every other request is given up and counted, and told: the first loss at once, the rest held back for the line a
            // second later, which the stop tells at once (what ferry run does once the book is settled). Told with the totals
            // as they are then: the line that counts them all says every loss was counted, and told.
            await LossToldAsync(rig, "the run is stopping; the request was not sent", unanswered: requests.Length - taken, flush: true);
        }
        finally
        {
            release.Set();
        }
        await sending.WaitAsync(Proxy2Rig.Deadline);
        Assert.Equal(requests.Length, rig.Published);
        Assert.Equal(taken, rig.Book.Waiting);

        // Those sent get their answers, in order, and the book settles: what the stop waits for.
        rig.UpstreamEchoes();
        foreach (var request in requests.Take(taken))
            Assert.Equal(request, (await a.ReceiveMessageAsync()).Text);
        await rig.Book.WhenSettledAsync().WaitAsync(Proxy2Rig.Deadline);
        Assert.Equal(requests.Length - taken, rig.Book.Loss.Unanswered);
    }

    [Fact]
    public async Task An_answer_read_just_before_the_upstream_closes_goes_to_its_client_and_nothing_is_counted_lost()
    {
        // 'back' groups its answers (group_size 4, group_linger 1 s of a clock that does not move): the last answer is still in
        // its open group when the end of the connection is read. On the old code the end was told first: the request was
        // counted unanswered, its half-closed client closed without it, and the answer then dropped as one nobody waited for.
        await using var rig = new Proxy2Rig("p2lastanswer", halfCloseLinger: Linger, backGroupSize: 4);
        await rig.StartAsync();
        await using var a = await rig.ConnectClientAsync();
        await a.SendAsync("a0\n");
        a.Socket.Shutdown(SocketShutdown.Send); // nc -N
        Assert.Equal("a0", await rig.UpstreamReadsAsync());

        await rig.UpstreamAnswersAsync("A0\n");
        rig.UpstreamCloses();
        Assert.Equal("A0", (await a.ReceiveMessageAsync()).Text);
        Assert.True(await a.WaitClosedAsync(Proxy2Rig.Deadline), "the half-closed client was not closed once answered");
        Assert.Equal(0, rig.Book.Loss.Unanswered);
        Assert.Equal(0, rig.Book.Loss.Unmatched);
        Assert.Empty(rig.Losses);
    }

    /// <summary>
    /// Waits for the loss line that tells <paramref name="what"/> with <paramref name="unanswered"/> requests lost so far. A loss is
    /// counted before it is told (the count is read by the line), so a test that waited for the count could look before the line
    /// came. With <paramref name="flush"/>, losses held back for the next line (within a second of the last, on a clock that
    /// does not move here) are told at each look, as the stop tells them.
    /// </summary>
    private static Task LossToldAsync(Proxy2Rig rig, string what, long unanswered, bool flush = false)
        => Poll.UntilAsync(() =>
        {
            if (flush)
                rig.Book.Loss.Flush();
            return rig.Losses.Any(l => l.Contains(what, StringComparison.Ordinal)
                && l.Contains($"(so far: {unanswered} requests without an answer,", StringComparison.Ordinal));
        }, $"the loss line telling '{what}' with {unanswered} requests without an answer", Proxy2Rig.Deadline,
            () => "lines: " + string.Join(" | ", rig.Losses));
}
