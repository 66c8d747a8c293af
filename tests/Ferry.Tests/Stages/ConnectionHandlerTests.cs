using System.Collections.Concurrent;
using System.Text;
using Ferry.Connections;
using Ferry.Framing;
using Ferry.Stages;
using Ferry.Tests.Support;
using Ferry.Transport;

namespace Ferry.Tests.Stages;

/// <summary>The per-connection model (<c>MapConnections</c>, issue 14) on both transports, with handlers on the thread pool and inline.</summary>
public abstract class ConnectionHandlerTests(StageTransport transport, HandlerScheduling scheduling)
{
    /// <summary>These tests on the epoll transport.</summary>
    public sealed class OnEpoll() : ConnectionHandlerTests(StageTransport.Epoll, HandlerScheduling.ThreadPool);

    /// <summary>These tests on the portable stream transport.</summary>
    public sealed class OnStream() : ConnectionHandlerTests(StageTransport.Stream, HandlerScheduling.ThreadPool);

    /// <summary>These tests on the epoll transport, handlers run on the service thread.</summary>
    public sealed class OnEpollInline() : ConnectionHandlerTests(StageTransport.Epoll, HandlerScheduling.Inline);

    /// <summary>These tests on the portable stream transport, handlers run on the service thread.</summary>
    public sealed class OnStreamInline() : ConnectionHandlerTests(StageTransport.Stream, HandlerScheduling.Inline);

    private void Map(FerryTestServer h, ConnectionHandler handler, int maxQueuedMessages = 256)
        => h.Stage.MapConnections(handler, new ConnectionHandlerOptions { MaxQueuedMessages = maxQueuedMessages, Scheduling = scheduling });

    private TcpServerStageOptions Lines => new TcpServerStageOptions { Framing = FramingSpec.Parse("lines") }.On(transport);

    private static byte[] Line(string text) => Encoding.UTF8.GetBytes(text + "\n");

    private static async Task<string> ReceiveLineAsync(FramedTestClient client, string expected)
        => Encoding.UTF8.GetString(await client.ReceiveExactlyAsync(expected.Length + 1));

    private static ConnectionHandler Echo => async (connection, ct) =>
    {
        await foreach (var message in connection.ReadAsync(ct))
            await connection.SendAsync(message.Payload, message.Fields, ct);
    };

    [Fact]
    public async Task A_handler_echoes_its_connections_messages_and_knows_who_it_serves()
    {
        await using var h = new FerryTestServer(Lines, recordPackets: false);
        var served = new ConcurrentQueue<FerryConnection>();
        Map(h, async (connection, ct) =>
        {
            served.Enqueue(connection);
            await Echo(connection, ct);
        });
        await h.StartAsync();
        using var client = await h.ConnectAsync();
        var connected = await h.WaitForConnectionAsync(client.LocalEndPoint);
        foreach (var text in new[] { "one", "two", "three" })
        {
            await client.SendAsync(Line(text));
            Assert.Equal(text + "\n", await ReceiveLineAsync(client, text));
        }
        var connection = Assert.Single(served);
        Assert.Equal(connected.ConnectionId, connection.Id);
        Assert.Equal(client.LocalEndPoint.Port, connection.Peer.Port);
        Assert.Equal(h.EndPoint.Port, connection.Local.Port);
        Assert.Null(connection.Tls);
        Assert.False(connection.IsClosed);
    }

    [Fact]
    public async Task A_handler_starts_after_its_Connected_event_and_sees_its_connection_gone_when_its_reading_ends()
    {
        // Session 17: the handler starts once the Connected handlers have returned, with its connection
        // in the registry; a close (here the kill switch) ends its reading with the connection already closed and out of
        // the registry, its token cancelled.
        await using var h = new FerryTestServer(Lines, recordPackets: false);
        var connectedHandled = 0;
        h.Stage.Connected += (_, _) => Volatile.Write(ref connectedHandled, 1);
        var seen = new ConcurrentQueue<string>();
        Map(h, async (connection, ct) =>
        {
            seen.Enqueue($"start: connected handled {Volatile.Read(ref connectedHandled) == 1} listed {h.Stage.GetConnections().Any(c => c.Id == connection.Id)} closed {connection.IsClosed}");
            await foreach (var message in connection.ReadAsync(CancellationToken.None))
            {
            }
            var stats = h.Stage.GetStats();
            seen.Enqueue($"end: listed {h.Stage.GetConnections().Any(c => c.Id == connection.Id)} closed {connection.IsClosed} token {connection.ConnectionClosed.IsCancellationRequested} "
                + $"counted {stats.ConnectionsNow} now {stats.ClosedTotal} closed");
        });
        await h.StartAsync();
        using var client = await h.ConnectAsync();
        var connected = await h.WaitForConnectionAsync(client.LocalEndPoint);
        await Poll.UntilAsync(() => seen.Count == 1, "the handler's start");
        Assert.True(h.Stage.Close(connected.ConnectionId, "test"));
        await Poll.UntilAsync(() => seen.Count == 2, "the handler's end");
        // The stats too (session 17): the connection was counted closed only after its handler learnt of the end, so a handler
        // could read ConnectionsNow already lowered and ClosedTotal not yet raised (Accepted - Closed != Now).
        Assert.Equal(["start: connected handled True listed True closed False", "end: listed False closed True token True counted 0 now 1 closed"], seen);
    }

    [Fact]
    public async Task Both_models_run_on_one_stage_the_group_subscriber_sees_what_the_handler_answers()
    {
        await using var h = new FerryTestServer(Lines); // records packet groups (the logging side)
        Map(h, Echo);
        await h.StartAsync();
        using var client = await h.ConnectAsync();
        await client.SendAsync(Line("logged and answered"));
        Assert.Equal("logged and answered\n", await ReceiveLineAsync(client, "logged and answered"));
        var packets = await h.WaitForPacketsAsync(p => p.Count == 1, "the packet in a group");
        Assert.Equal("logged and answered", Encoding.UTF8.GetString(packets[0].Payload));
    }

    [Fact]
    public async Task A_second_ReadAsync_goes_on_with_the_messages_that_came_in_the_same_read_as_the_first()
    {
        // "Read the login line, then loop over the session" (review F5): the login and the next lines come in
        // one write, so in one read, one inbox batch. Leaving a loop with break must leave the rest of that
        // batch to the next ReadAsync, not release it with the message the loop stopped at.
        await using var h = new FerryTestServer(Lines, recordPackets: false);
        Map(h, async (connection, ct) =>
        {
            string? user = null;
            await foreach (var message in connection.ReadAsync(ct))
            {
                user = Encoding.UTF8.GetString(message.Payload.Span);
                break;
            }
            await connection.SendAsync(Encoding.UTF8.GetBytes("welcome " + user), cancellationToken: ct);
            // A second early exit from the same batch, then the session loop.
            await foreach (var message in connection.ReadAsync(ct))
            {
                await connection.SendAsync(Encoding.UTF8.GetBytes("first " + Encoding.UTF8.GetString(message.Payload.Span)), cancellationToken: ct);
                break;
            }
            await foreach (var message in connection.ReadAsync(ct))
                await connection.SendAsync(Encoding.UTF8.GetBytes("echo " + Encoding.UTF8.GetString(message.Payload.Span)), cancellationToken: ct);
        });
        await h.StartAsync();
        using var client = await h.ConnectAsync();
        await client.SendAsync("LOGIN alice\nhello\nworld\nagain\n"); // one write
        Assert.Equal("welcome LOGIN alice\n", await ReceiveLineAsync(client, "welcome LOGIN alice"));
        await client.SendAsync("later\n"); // a read of its own, after the first batch
        // Before the fix the rest of the first batch was gone: the second loop's first message was "later".
        foreach (var expected in new[] { "first hello", "echo world", "echo again", "echo later" })
            Assert.Equal(expected + "\n", await ReceiveLineAsync(client, expected));
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task The_message_a_loop_stopped_at_stays_valid_until_the_next_loop_moves_on_whatever_came_with_it(bool inOneWrite)
    {
        // The batch a reader stops in stays held for the next reader, so the message the first loop stopped at
        // is still readable after the break, whether or not more messages came in the same read; once the
        // next reader has moved past that batch, it is released.
        await using var h = new FerryTestServer(Lines, recordPackets: false);
        var afterBreak = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        var kept = new TaskCompletionSource<ConnectionMessage>(TaskCreationOptions.RunContinuationsAsynchronously);
        Map(h, async (connection, ct) =>
        {
            ConnectionMessage first = default;
            await foreach (var message in connection.ReadAsync(ct))
            {
                first = message;
                break;
            }
            afterBreak.TrySetResult(Encoding.UTF8.GetString(first.Payload.Span));
            await foreach (var message in connection.ReadAsync(ct))
            {
                await connection.SendAsync(message.Payload, cancellationToken: ct);
                if (Encoding.UTF8.GetString(message.Payload.Span) == "next")
                    kept.TrySetResult(first); // the second loop has moved past the first batch
            }
        });
        await h.StartAsync();
        using var client = await h.ConnectAsync();
        await client.SendAsync(inOneWrite ? "one\ntwo\n" : "one\n");
        Assert.Equal("one", await afterBreak.Task.WaitAsync(TimeSpan.FromSeconds(10)));
        if (!inOneWrite)
            await client.SendAsync("two\n");
        Assert.Equal("two\n", await ReceiveLineAsync(client, "two"));
        await client.SendAsync("next\n");
        Assert.Equal("next\n", await ReceiveLineAsync(client, "next"));
        var message = await kept.Task.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Throws<ObjectDisposedException>(() => message.Payload.Span.ToArray());
    }

    private static string Numbered(string prefix, int i) => $"{prefix}-{i}-{new string((char)('a' + i % 26), 30)}";

    [Fact]
    public async Task Kept_messages_throw_once_the_loop_has_moved_on_never_showing_another_messages_bytes()
    {
        // The trial's repro (issue 14): keep five payloads, read them later, while other clients' data
        // goes through the same pooled memory.
        await using var h = new FerryTestServer(Lines, recordPackets: false);
        var kept = new TaskCompletionSource<ConnectionMessage[]>(TaskCreationOptions.RunContinuationsAsynchronously);
        Map(h, async (connection, ct) =>
        {
            var first = new List<ConnectionMessage>();
            await foreach (var message in connection.ReadAsync(ct))
            {
                if (kept.Task.IsCompleted)
                {
                    await connection.SendAsync(message.Payload, cancellationToken: ct); // the other client's traffic
                    continue;
                }
                first.Add(message);
                if (first.Count == 5)
                    break; // the loop ends: the messages' read is released
            }
            kept.TrySetResult([.. first]);
        });
        await h.StartAsync();
        using var keeper = await h.ConnectAsync();
        for (var i = 0; i < 5; i++)
            await keeper.SendAsync(Line(Numbered("message", i)));
        var five = await kept.Task.WaitAsync(TimeSpan.FromSeconds(10));

        using var other = await h.ConnectAsync();
        for (var i = 0; i < 50; i++)
        {
            await other.SendAsync(Line(Numbered("other", i)));
            Assert.Equal(Numbered("other", i) + "\n", await ReceiveLineAsync(other, Numbered("other", i)));
        }
        foreach (var message in five)
        {
            var error = Assert.Throws<ObjectDisposedException>(() => message.Payload.Span.ToArray());
            Assert.Contains("ToArray()", error.Message);
            Assert.Throws<ObjectDisposedException>(() => message.ToArray());
            Assert.Throws<ObjectDisposedException>(() => message.Retain());
        }
    }

    [Fact]
    public async Task A_message_is_kept_by_saying_so_ToArray_or_Retain_until_its_lease_is_disposed()
    {
        await using var h = new FerryTestServer(Lines, recordPackets: false);
        var copies = new ConcurrentQueue<byte[]>();
        var retained = new ConcurrentQueue<(ConnectionMessage Message, IDisposable Lease)>();
        Map(h, async (connection, ct) =>
        {
            await foreach (var message in connection.ReadAsync(ct))
            {
                copies.Enqueue(message.ToArray());
                retained.Enqueue((message, message.Retain()));
                await connection.SendAsync("ok"u8.ToArray(), cancellationToken: ct);
            }
        });
        await h.StartAsync();
        using var client = await h.ConnectAsync();
        for (var i = 0; i < 50; i++)
        {
            await client.SendAsync(Line(Numbered("message", i)));
            Assert.Equal("ok\n", await ReceiveLineAsync(client, "ok"));
        }
        Assert.Equal(Enumerable.Range(0, 50).Select(i => Numbered("message", i)), copies.Select(c => Encoding.UTF8.GetString(c)));
        // Long after the loop moved on, retained messages still read as themselves.
        Assert.Equal(Enumerable.Range(0, 50).Select(i => Numbered("message", i)), retained.Select(r => Encoding.UTF8.GetString(r.Message.Payload.Span)));
        foreach (var (_, lease) in retained)
        {
            lease.Dispose();
            lease.Dispose(); // a lease gives up its hold once
        }
        Assert.All(retained, r => Assert.Throws<ObjectDisposedException>(() => r.Message.Payload.Span.ToArray()));
        Assert.Equal(Numbered("message", 7), Encoding.UTF8.GetString(copies.ElementAt(7)));
        Assert.Throws<InvalidOperationException>(() => default(ConnectionMessage).Retain());
    }

    [Fact]
    public async Task Messages_of_one_read_come_in_order_with_their_fields()
    {
        var options = new TcpServerStageOptions { Framing = FramingSpec.Parse("header") }.On(transport);
        await using var h = new FerryTestServer(options, recordPackets: false);
        var seen = new ConcurrentQueue<(ushort Type, string Text)>();
        Map(h, async (connection, ct) =>
        {
            await foreach (var message in connection.ReadAsync(ct))
                seen.Enqueue((message.Fields.MessageType, Encoding.UTF8.GetString(message.Payload.Span)));
        });
        await h.StartAsync();
        using var client = await h.ConnectAsync();
        var framing = FramingSpec.Parse("header");
        var writer = new System.Buffers.ArrayBufferWriter<byte>();
        for (var i = 0; i < 40; i++)
            framing.Encoder.Encode(Encoding.UTF8.GetBytes(Numbered("m", i)), new FrameFields(MessageType: (ushort)(i + 1)), writer);
        await client.SendAsync(writer.WrittenMemory.ToArray()); // one write: most arrive in one read, one batch
        await Poll.UntilAsync(() => seen.Count == 40, "40 messages");
        Assert.Equal(Enumerable.Range(0, 40).Select(i => ((ushort)(i + 1), Numbered("m", i))), seen);
    }

    [Fact]
    public async Task Cancelling_a_read_ends_its_wait_and_a_new_read_goes_on_with_the_next_messages()
    {
        await using var h = new FerryTestServer(Lines, recordPackets: false);
        using var stopReading = new CancellationTokenSource();
        var outcome = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        Map(h, async (connection, ct) =>
        {
            try
            {
                // Both tokens count: the handler's and the one given to WithCancellation.
                await foreach (var message in connection.ReadAsync(ct).WithCancellation(stopReading.Token))
                    await connection.SendAsync(message.Payload, cancellationToken: ct);
                outcome.TrySetResult("ended");
            }
            catch (OperationCanceledException) when (stopReading.IsCancellationRequested)
            {
                outcome.TrySetResult("cancelled");
            }
            await foreach (var message in connection.ReadAsync(ct))
                await connection.SendAsync(message.Payload, cancellationToken: ct);
        });
        await h.StartAsync();
        using var client = await h.ConnectAsync();
        await client.SendAsync(Line("one"));
        Assert.Equal("one\n", await ReceiveLineAsync(client, "one"));
        stopReading.Cancel(); // the first read is waiting for a message now
        Assert.Equal("cancelled", await outcome.Task.WaitAsync(TimeSpan.FromSeconds(10)));
        await client.SendAsync(Line("two"));
        Assert.Equal("two\n", await ReceiveLineAsync(client, "two"));
    }

    [Fact]
    public async Task What_a_handler_sends_goes_out_when_it_awaits_anything_not_only_its_next_message()
    {
        await using var h = new FerryTestServer(Lines, recordPackets: false);
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        Map(h, async (connection, ct) =>
        {
            await foreach (var message in connection.ReadAsync(ct))
            {
                await connection.SendAsync("working"u8.ToArray(), cancellationToken: ct);
                await gate.Task.WaitAsync(ct); // a slow call mid-batch (a database, a service)
                await connection.SendAsync("done"u8.ToArray(), cancellationToken: ct);
            }
        });
        await h.StartAsync();
        using var client = await h.ConnectAsync();
        await client.SendAsync(Line("job"));
        Assert.Equal("working\n", await ReceiveLineAsync(client, "working"));
        gate.SetResult();
        Assert.Equal("done\n", await ReceiveLineAsync(client, "done"));
    }

    [Fact]
    public async Task A_handler_sending_more_than_its_egress_buffer_without_awaiting_loses_nothing()
    {
        const int lines = 100; // 100 KB: more than the 64 KiB buffer, less than what loopback kernel buffers hold for a slow reader
        var body = new string('z', 1000);
        await using var h = new FerryTestServer(Lines with { EgressBufferBytes = 64 * 1024 }, recordPackets: false);
        var sent = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
        Map(h, async (connection, ct) =>
        {
            await foreach (var message in connection.ReadAsync(ct))
            {
                var taken = 0;
                // Every send completes at once: the handler never yields its thread in this loop.
                for (var i = 0; i < lines; i++)
                {
                    var task = connection.SendAsync(Encoding.UTF8.GetBytes($"{i:D4}-{body}"), cancellationToken: ct);
                    Assert.True(task.IsCompleted);
                    taken += await task ? 1 : 0;
                }
                sent.TrySetResult(taken);
            }
        });
        await h.StartAsync();
        using var client = await h.ConnectAsync();
        var received = Task.Run(() => client.ReceiveExactlyAsync(lines * (body.Length + 6)));
        await client.SendAsync(Line("go"));
        Assert.Equal(lines, await sent.Task.WaitAsync(TimeSpan.FromSeconds(10)));
        var bytes = await received.WaitAsync(TimeSpan.FromSeconds(10));
        var text = Encoding.UTF8.GetString(bytes).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(Enumerable.Range(0, lines).Select(i => $"{i:D4}-{body}"), text);
        Assert.Equal(0, h.Stage.GetStats().EgressPacketsDroppedTotal);
    }

    [Fact]
    public async Task A_handler_that_returns_closes_its_connection_after_its_answer_is_sent()
    {
        await using var h = new FerryTestServer(Lines, recordPackets: false);
        Map(h, async (connection, ct) =>
        {
            await foreach (var message in connection.ReadAsync(ct))
            {
                await connection.SendAsync(Encoding.UTF8.GetBytes("bye"), cancellationToken: ct);
                return;
            }
        });
        await h.StartAsync();
        using var client = await h.ConnectAsync();
        var connected = await h.WaitForConnectionAsync(client.LocalEndPoint);
        await client.SendAsync(Line("quit"));
        Assert.Equal("bye\n", await ReceiveLineAsync(client, "bye"));
        Assert.True(await client.WaitClosedAsync());
        var gone = await h.WaitForDisconnectAsync(connected.ConnectionId);
        Assert.Equal(DisconnectReason.HandlerEnded, gone.Reason);
        Assert.Equal("handler_ended", gone.ReasonName);
        Assert.Null(gone.Detail);
        await Poll.UntilAsync(() => h.Stage.Core.RunningHandlers == 0, "the handler to be gone");
    }

    [Fact]
    public async Task A_handler_that_throws_is_reported_and_its_connection_closed_the_stage_goes_on()
    {
        await using var h = new FerryTestServer(Lines, recordPackets: false);
        Map(h, async (connection, ct) =>
        {
            await foreach (var message in connection.ReadAsync(ct))
            {
                if (Encoding.UTF8.GetString(message.Payload.Span) == "boom")
                    throw new InvalidOperationException("the handler broke");
                await connection.SendAsync(message.Payload, cancellationToken: ct);
            }
        });
        await h.StartAsync();
        using var bad = await h.ConnectAsync();
        var badConnected = await h.WaitForConnectionAsync(bad.LocalEndPoint);
        await bad.SendAsync(Line("boom"));
        var gone = await h.WaitForDisconnectAsync(badConnected.ConnectionId);
        Assert.Equal(DisconnectReason.HandlerEnded, gone.Reason);
        Assert.Contains("the handler broke", gone.Detail);
        var error = await h.WaitForEventAsync<StageErrorEvent>(e => e.Kind == StageErrorKind.Handler);
        Assert.Equal(badConnected.ConnectionId, error.ConnectionId);
        Assert.Contains("the handler broke", error.Message);

        using var good = await h.ConnectAsync();
        await good.SendAsync(Line("still here"));
        Assert.Equal("still here\n", await ReceiveLineAsync(good, "still here"));
    }

    [Fact]
    public async Task When_the_peer_finishes_sending_the_handler_reads_every_message_then_its_reading_ends_and_the_connection_waits_for_it()
    {
        await using var h = new FerryTestServer(Lines, recordPackets: false);
        var seen = new ConcurrentQueue<string>();
        var ended = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
        Map(h, async (connection, ct) =>
        {
            await foreach (var message in connection.ReadAsync(ct))
                seen.Enqueue(Encoding.UTF8.GetString(message.Payload.Span));
            // A half-close ends the reading, not the connection: the handler may still answer.
            ended.TrySetResult(!ct.IsCancellationRequested && !connection.IsClosed);
        });
        await h.StartAsync();
        var client = await h.ConnectAsync();
        var connected = await h.WaitForConnectionAsync(client.LocalEndPoint);
        await client.SendAsync(Encoding.UTF8.GetBytes("a\nb\nc\n"));
        client.Socket.Shutdown(System.Net.Sockets.SocketShutdown.Send);
        var gone = await h.WaitForDisconnectAsync(connected.ConnectionId);
        Assert.Equal(DisconnectReason.RemoteClosed, gone.Reason);
        Assert.True(await ended.Task.WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.Equal(["a", "b", "c"], seen);
        client.Dispose();
    }

    [Fact]
    public async Task A_client_that_shuts_down_its_side_still_reads_the_handlers_whole_answer()
    {
        // Request, shutdown(SHUT_WR), read the answer until the close: the handler sees the end of input,
        // answers after it (more than the socket buffers take, so part of it is written after the handler
        // has ended), and the connection closes once the answer is written.
        await using var h = new FerryTestServer(Lines with { Socket = new TcpSocketOptions { SendBufferSize = 4096 } }, recordPackets: false);
        var body = new string('x', 1000);
        const int answers = 200;
        Map(h, async (connection, ct) =>
        {
            var lines = new List<string>();
            await foreach (var message in connection.ReadAsync(ct))
                lines.Add(Encoding.UTF8.GetString(message.Payload.Span));
            for (var i = 0; i < answers; i++)
                await connection.SendAsync(Encoding.UTF8.GetBytes($"{i:D4} {string.Join(",", lines)} {body}"), cancellationToken: ct);
        });
        await h.StartAsync();
        using var client = new System.Net.Sockets.Socket(System.Net.Sockets.AddressFamily.InterNetwork,
            System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Tcp) { ReceiveBufferSize = 4096 };
        await client.ConnectAsync(h.EndPoint);
        var id = (await h.WaitForConnectionAsync((System.Net.IPEndPoint)client.LocalEndPoint!)).ConnectionId;
        await client.SendAsync(Encoding.UTF8.GetBytes("a\nb\n"), System.Net.Sockets.SocketFlags.None);
        client.Shutdown(System.Net.Sockets.SocketShutdown.Send);

        var received = new MemoryStream();
        var buffer = new byte[8192];
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        while (true)
        {
            var n = await client.ReceiveAsync(buffer, System.Net.Sockets.SocketFlags.None, deadline.Token);
            if (n == 0)
                break;
            received.Write(buffer, 0, n);
        }
        // Before the fix the FIN closed the connection at once: the handler's answers went nowhere.
        var lines = Encoding.UTF8.GetString(received.ToArray()).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(Enumerable.Range(0, answers).Select(i => $"{i:D4} a,b {body}"), lines);
        var gone = await h.WaitForDisconnectAsync(id);
        Assert.Equal(DisconnectReason.RemoteClosed, gone.Reason);
        Assert.Equal(0, h.Stage.GetStats().EgressBytesDroppedTotal);
    }

    [Fact]
    public async Task A_stop_waits_for_its_handlers_and_their_last_events_come_before_Closed()
    {
        // Review finding: a handler whose clean-up takes a while and throws outlived StopAsync, and its Error
        // came after Closed. The stop now waits for handlers (within its grace period) before it ends.
        var time = new StageTime();
        var h = new FerryTestServer(Lines with { StopGracePeriod = TimeSpan.FromSeconds(5) }, recordPackets: false, time: time);
        var cleaning = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var cleanedUp = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        Map(h, async (connection, ct) =>
        {
            try
            {
                await foreach (var message in connection.ReadAsync(ct))
                    await connection.SendAsync(message.Payload, cancellationToken: ct);
            }
            finally
            {
                cleaning.TrySetResult();
                await cleanedUp.Task;
                throw new InvalidOperationException("clean-up failed");
            }
        });
        await h.StartAsync();
        using var client = await h.ConnectAsync();
        var id = (await h.WaitForConnectionAsync(client)).ConnectionId;
        await client.SendAsync(Line("hello"));
        Assert.Equal("hello\n", await ReceiveLineAsync(client, "hello"));

        var stopping = h.Stage.StopAsync();
        await cleaning.Task.WaitAsync(TimeSpan.FromSeconds(10)); // the stop cancelled the handler's token
        await h.SettleAsync();
        Assert.False(stopping.IsCompleted, "the stop waits for the running handler");
        Assert.DoesNotContain(h.Events, e => e is ClosedEvent);
        Assert.Equal(1, h.Stage.Core.RunningHandlers);

        cleanedUp.SetResult();
        await stopping.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(0, h.Stage.Core.RunningHandlers);
        var events = h.Events;
        var failed = events.ToList().FindIndex(e => e is StageErrorEvent { Kind: StageErrorKind.Handler } error && error.Message.Contains("clean-up failed"));
        Assert.True(failed >= 0, "the handler's failure is reported");
        Assert.IsType<ClosedEvent>(events[^1]);
        Assert.Single(events.OfType<ClosedEvent>());
        Assert.Contains(events, e => e is DisconnectedEvent d && d.ConnectionId == id);
        await h.DisposeAsync();
    }

    [Fact]
    public async Task A_handler_that_outlives_the_grace_period_is_reported_once_before_Closed_and_abandoned()
    {
        var grace = TimeSpan.FromSeconds(2);
        var time = new StageTime();
        var h = new FerryTestServer(Lines with { StopGracePeriod = grace }, recordPackets: false, time: time);
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        Map(h, async (connection, ct) =>
        {
            await release.Task; // ignores its token: hung as far as the stage can tell
            throw new InvalidOperationException("late failure");
        });
        await h.StartAsync();
        using var client = await h.ConnectAsync();
        var id = (await h.WaitForConnectionAsync(client)).ConnectionId;

        var stopping = h.Stage.StopAsync();
        await h.SettleAsync(); // the loop has begun the stop: the grace period runs from now
        await h.AdvanceAsync(grace - TimeSpan.FromMilliseconds(1));
        Assert.False(stopping.IsCompleted, "the stop waits for the handler until the grace period ends");
        Assert.Equal(1, h.Stage.ConnectionCount);

        time.Advance(TimeSpan.FromMilliseconds(1 + 10));
        await stopping.WaitAsync(TimeSpan.FromSeconds(10)); // a hung handler never hangs the stop
        var events = h.Events;
        var abandoned = Assert.Single(events.OfType<StageErrorEvent>(), e => e.Message.Contains("did not end within the stop grace period"));
        Assert.Contains(id.ToString(), abandoned.Message);
        Assert.IsType<ClosedEvent>(events[^1]);
        Assert.Equal(DisconnectReason.ServerStopping, (await h.WaitForDisconnectAsync(id)).Reason);

        // Its late failure is logged, never raised after Closed.
        release.SetResult();
        await Poll.UntilAsync(() => h.Stage.Core.RunningHandlers == 0, "the abandoned handler to end");
        Assert.IsType<ClosedEvent>(h.Events[^1]);
        Assert.DoesNotContain(h.Events, e => e is StageErrorEvent error && error.Message.Contains("late failure"));
        await h.DisposeAsync();
    }

    [Fact]
    public async Task Close_from_the_handler_carries_reason_and_code_and_flushes_what_was_sent()
    {
        await using var h = new FerryTestServer(Lines, recordPackets: false);
        Map(h, async (connection, ct) =>
        {
            await foreach (var message in connection.ReadAsync(ct))
            {
                await connection.SendAsync(Encoding.UTF8.GetBytes("denied"), cancellationToken: ct);
                connection.Close("not allowed", "E403");
            }
        });
        await h.StartAsync();
        using var client = await h.ConnectAsync();
        var connected = await h.WaitForConnectionAsync(client.LocalEndPoint);
        await client.SendAsync(Line("let me in"));
        Assert.Equal("denied\n", await ReceiveLineAsync(client, "denied"));
        var gone = await h.WaitForDisconnectAsync(connected.ConnectionId);
        Assert.Equal(DisconnectReason.Killed, gone.Reason);
        Assert.Equal("not allowed", gone.Detail);
        Assert.Equal("E403", gone.Code);
        Assert.True(await client.WaitClosedAsync());
    }

    [Fact]
    public async Task Groups_joined_by_a_handler_route_messages_raise_events_and_travel_with_disconnected()
    {
        await using var h = new FerryTestServer(Lines, recordPackets: false);
        var joined = new ConcurrentQueue<GroupMembershipEvent>();
        var left = new ConcurrentQueue<GroupMembershipEvent>();
        h.Stage.JoinedGroup += (_, e) => joined.Enqueue(e);
        h.Stage.LeftGroup += (_, e) => left.Enqueue(e);
        IReadOnlyList<string>? groupsAtDisconnect = null;
        h.Stage.Disconnected += (_, e) => groupsAtDisconnect ??= e.Groups;
        Map(h, async (connection, ct) =>
        {
            await foreach (var message in connection.ReadAsync(ct))
            {
                var room = Encoding.UTF8.GetString(message.Payload.Span);
                connection.JoinGroup(room);
                await connection.SendAsync(Encoding.UTF8.GetBytes($"joined {string.Join(',', connection.Groups.Order())}"), cancellationToken: ct);
            }
        });
        await h.StartAsync();
        var client = await h.ConnectAsync();
        var connected = await h.WaitForConnectionAsync(client.LocalEndPoint);
        await client.SendAsync(Line("lobby"));
        Assert.Equal("joined lobby\n", await ReceiveLineAsync(client, "joined lobby"));
        await client.SendAsync(Line("games"));
        Assert.Equal("joined games,lobby\n", await ReceiveLineAsync(client, "joined games,lobby"));

        Assert.Equal(1, await h.Stage.SendToGroupAsync("games", Encoding.UTF8.GetBytes("to games")));
        Assert.Equal("to games\n", await ReceiveLineAsync(client, "to games"));
        Assert.Equal(["lobby", "games"], joined.Select(e => e.Group));
        Assert.All(joined, e => Assert.True(e.Joined && e.ConnectionId == connected.ConnectionId));

        client.Dispose();
        await h.WaitForDisconnectAsync(connected.ConnectionId);
        // The bus event the server records and the .NET event are raised one after the other: wait for both.
        await Poll.UntilAsync(() => Volatile.Read(ref groupsAtDisconnect) is not null, "the Disconnected .NET event");
        await Poll.UntilAsync(() => left.Count == 2, "both LeftGroup events");
        Assert.Equal(["games", "lobby"], groupsAtDisconnect!.Order());
        Assert.Equal(["games", "lobby"], left.Select(e => e.Group).Order());
        Assert.All(left, e => Assert.False(e.Joined));
        Assert.Empty(h.Stage.GetGroups());
    }

    [Fact]
    public async Task A_stalled_handler_pauses_only_its_own_connection_the_others_keep_their_echo()
    {
        const int capacity = 8;
        const int slowMessages = 3000;
        const int roundTrips = 200;
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var slowSeen = new ConcurrentQueue<string>();
        await using var h = new FerryTestServer(Lines, recordPackets: false);
        Map(h, async (connection, ct) =>
        {
            await foreach (var message in connection.ReadAsync(ct))
            {
                var text = Encoding.UTF8.GetString(message.Payload.Span);
                if (text.StartsWith("slow", StringComparison.Ordinal))
                {
                    await gate.Task.WaitAsync(ct); // stands in for a handler that takes a second per message
                    slowSeen.Enqueue(text);
                    continue;
                }
                await connection.SendAsync(message.Payload, cancellationToken: ct);
            }
        }, capacity);
        await h.StartAsync();

        using var slow = await h.ConnectAsync();
        var slowId = (await h.WaitForConnectionAsync(slow.LocalEndPoint)).ConnectionId;
        var filler = new string('x', 1000);
        var flooding = Task.Run(async () =>
        {
            for (var i = 0; i < slowMessages; i++)
                await slow.SendAsync(Line($"slow-{i:D5}-{filler}"));
        });
        // The slow connection's inbox fills and the stage stops reading it.
        await Poll.UntilAsync(() => PacketsIn(h, slowId) >= capacity, "the slow handler's inbox to fill");

        var fast = new List<FramedTestClient>();
        for (var i = 0; i < 3; i++)
            fast.Add(await h.ConnectAsync());
        await Task.WhenAll(fast.Select(async (client, n) =>
        {
            for (var i = 0; i < roundTrips; i++)
            {
                var text = $"fast-{n}-{i}";
                await client.SendAsync(Line(text));
                Assert.Equal(text + "\n", await ReceiveLineAsync(client, text));
            }
        }));

        // While the others did 600 round trips, the stalled connection was read no further than its
        // inbox plus one read's worth of lines (a 64 KiB read holds about 64 of these).
        var readWhileStalled = PacketsIn(h, slowId);
        Assert.InRange(readWhileStalled, capacity, capacity + 200);
        Assert.Empty(slowSeen);

        gate.SetResult();
        await flooding.WaitAsync(TimeSpan.FromSeconds(30));
        await Poll.UntilAsync(() => slowSeen.Count == slowMessages, "every slow message once reads resume", TimeSpan.FromSeconds(30));
        Assert.Equal(Enumerable.Range(0, slowMessages).Select(i => $"slow-{i:D5}-{filler}"), slowSeen);
        fast.ForEach(c => c.Dispose());
    }

    [Fact]
    public async Task A_stalled_handler_of_large_messages_pauses_its_connection_at_the_byte_bound_not_at_the_message_count()
    {
        const int frame = 200 * 1024;
        const int frames = 40;
        const int byteBound = 256 * 1024;
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var seen = 0;
        var options = new TcpServerStageOptions { Framing = FramingSpec.Parse("length") }.On(transport);
        await using var h = new FerryTestServer(options, recordPackets: false);
        h.Stage.MapConnections(async (connection, ct) =>
        {
            await foreach (var message in connection.ReadAsync(ct))
            {
                if (message.Payload.Length == frame)
                {
                    await gate.Task.WaitAsync(ct); // a handler that takes its time over each large message
                    Interlocked.Increment(ref seen);
                    continue;
                }
                await connection.SendAsync(message.Payload, cancellationToken: ct);
            }
        }, new ConnectionHandlerOptions { MaxQueuedBytes = byteBound, Scheduling = scheduling });
        await h.StartAsync();

        using var slow = await h.ConnectAsync();
        var slowId = (await h.WaitForConnectionAsync(slow.LocalEndPoint)).ConnectionId;
        var message = new byte[4 + frame];
        System.Buffers.Binary.BinaryPrimitives.WriteInt32BigEndian(message, frame);
        var flooding = Task.Run(async () =>
        {
            for (var i = 0; i < frames; i++)
                await slow.SendAsync(message);
        });
        await Poll.UntilAsync(() => PacketsIn(h, slowId) >= byteBound / frame, "the slow handler's inbox to fill");

        // Another connection's round trips give the stage time to read the stalled one, were it still read.
        using var fast = await h.ConnectAsync();
        var ping = new byte[] { 0, 0, 0, 4, (byte)'p', (byte)'i', (byte)'n', (byte)'g' };
        for (var i = 0; i < 200; i++)
        {
            await fast.SendAsync(ping);
            Assert.Equal(ping, await fast.ReceiveExactlyAsync(ping.Length));
        }

        // 256 messages would be 50 MiB here: the byte bound holds it to the bound plus what one read completes.
        Assert.InRange(PacketsIn(h, slowId), byteBound / frame, byteBound / frame + 2);
        Assert.Equal(0, Volatile.Read(ref seen));

        gate.SetResult();
        await flooding.WaitAsync(TimeSpan.FromSeconds(30));
        await Poll.UntilAsync(() => Volatile.Read(ref seen) == frames, "every large message once reads resume", TimeSpan.FromSeconds(30));
    }

    [Fact]
    public async Task MaxQueuedBytes_below_one_is_refused_naming_the_option()
    {
        await using var h = new FerryTestServer(Lines, recordPackets: false);
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => h.Stage.MapConnections(Echo, new ConnectionHandlerOptions { MaxQueuedBytes = 0 }));
        Assert.StartsWith("MaxQueuedBytes is 0; allowed: 1 or more", e.Message);
    }

    [Fact]
    public async Task A_connection_paused_for_its_handler_is_not_closed_as_idle()
    {
        var time = new StageTime();
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var taken = 0;
        await using var h = new FerryTestServer(Lines with { IdleTimeout = TimeSpan.FromSeconds(1) }, recordPackets: false, time: time);
        Map(h, async (connection, ct) =>
        {
            await foreach (var message in connection.ReadAsync(ct))
            {
                await gate.Task.WaitAsync(ct);
                Interlocked.Increment(ref taken);
            }
        }, 2);
        await h.StartAsync();
        using var client = await h.ConnectAsync();
        var id = (await h.WaitForConnectionAsync(client.LocalEndPoint)).ConnectionId;
        await client.SendAsync(Encoding.UTF8.GetBytes("1\n2\n3\n"));
        await Poll.UntilAsync(() => PacketsIn(h, id) == 3, "the inbox to fill");
        await h.AdvanceAsync(TimeSpan.FromSeconds(5)); // five idle timeouts while the handler is stuck
        Assert.DoesNotContain(h.Events, e => e is DisconnectedEvent);
        gate.SetResult();
        await Poll.UntilAsync(() => Volatile.Read(ref taken) == 3, "the handler to catch up");
        // The handler counts a message before it is done with the batch: the resume (and with it the restart of
        // the idle deadline) follows on its thread and then in a loop round. Fake time must not move before the
        // stage reads the connection again, else the deadline restarts late and the idle close never comes.
        await Poll.UntilAsync(() => h.Stage.Core.Table.Snapshot().SingleOrDefault(c => c.Id == id) is not { } c || !Volatile.Read(ref c.InboxFull),
            "the stage to read the connection again");
        await h.SettleAsync();
        Assert.DoesNotContain(h.Events, e => e is DisconnectedEvent);
        // Once read again, a silent peer is idle as before.
        await h.AdvanceAsync(TimeSpan.FromSeconds(2));
        var gone = await h.WaitForDisconnectAsync(id);
        Assert.Equal(DisconnectReason.IdleTimeout, gone.Reason);
    }

    private static long PacketsIn(FerryTestServer h, ConnectionId id)
        => h.Stage.GetConnections().FirstOrDefault(c => c.Id == id)?.PacketsIn ?? -1;

    [Fact]
    public async Task The_handlers_token_is_cancelled_when_the_stage_stops()
    {
        var h = new FerryTestServer(Lines, recordPackets: false);
        var cancelled = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        Map(h, async (connection, ct) =>
        {
            try
            {
                await Task.Delay(Timeout.Infinite, ct);
            }
            finally
            {
                cancelled.TrySetResult();
            }
        });
        await h.StartAsync();
        using var client = await h.ConnectAsync();
        await h.WaitForConnectionAsync(client.LocalEndPoint);
        await h.DisposeAsync();
        await cancelled.Task.WaitAsync(TimeSpan.FromSeconds(10));
    }

    [Fact]
    public async Task Mapping_is_checked_null_twice_bad_capacity_and_after_start_are_refused()
    {
        await using var h = new FerryTestServer(Lines, recordPackets: false);
        Assert.Throws<ArgumentNullException>(() => h.Stage.MapConnections(null!));
        Assert.Throws<ArgumentOutOfRangeException>(() => h.Stage.MapConnections(Echo, new ConnectionHandlerOptions { MaxQueuedMessages = 0 }));
        h.Stage.MapConnections(Echo);
        var twice = Assert.Throws<InvalidOperationException>(() => h.Stage.MapConnections(Echo));
        Assert.Contains("already has a connection handler", twice.Message);
        await h.StartAsync();
        await using var other = new FerryTestServer(Lines, recordPackets: false);
        await other.StartAsync();
        var late = Assert.Throws<InvalidOperationException>(() => other.Stage.MapConnections(Echo));
        Assert.Contains("before starting", late.Message);
    }

    [Fact]
    public async Task A_client_stage_serves_the_connection_it_dials_with_a_handler()
    {
        await using var server = new FerryTestServer(Lines);
        await server.StartAsync();
        var options = new TcpClientStageOptions { Connect = $"127.0.0.1:{server.EndPoint.Port}", Framing = FramingSpec.Parse("lines") }.On(transport);
        await using var client = new TcpClientStage(options);
        var received = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        client.MapConnections(async (connection, ct) =>
        {
            await foreach (var message in connection.ReadAsync(ct))
            {
                received.TrySetResult(Encoding.UTF8.GetString(message.Payload.Span));
                await connection.SendAsync(Encoding.UTF8.GetBytes("thanks"), cancellationToken: ct);
            }
        }, new ConnectionHandlerOptions { Scheduling = scheduling });
        client.Start();
        var connected = await server.WaitForEventAsync<ConnectedEvent>();
        await server.Stage.SendAsync(connected.ConnectionId, Encoding.UTF8.GetBytes("hello client"));
        Assert.Equal("hello client", await received.Task.WaitAsync(TimeSpan.FromSeconds(10)));
        var answer = await server.WaitForPacketsAsync(p => p.Count == 1, "the handler's answer");
        Assert.Equal("thanks", Encoding.UTF8.GetString(answer[0].Payload));
    }

    [Fact]
    public async Task Handlers_run_where_their_scheduling_says_after_their_start_on_the_thread_pool()
    {
        // Fake time: the inline budget is measured on it, so no run on this machine can look long.
        var time = new StageTime();
        await using var h = new FerryTestServer(Lines, recordPackets: false, time: time);
        var startedOn = new ConcurrentQueue<string?>();
        var messagesOn = new ConcurrentQueue<string?>();
        Map(h, async (connection, ct) =>
        {
            startedOn.Enqueue(Thread.CurrentThread.Name);
            await foreach (var message in connection.ReadAsync(ct))
            {
                messagesOn.Enqueue(Thread.CurrentThread.Name);
                await connection.SendAsync(message.Payload, cancellationToken: ct);
            }
        });
        await h.StartAsync();
        using var client = await h.ConnectAsync();
        await h.WaitForConnectionAsync(client.LocalEndPoint);
        await Poll.UntilAsync(() => !startedOn.IsEmpty, "the handler to start");
        for (var i = 0; i < 20; i++)
        {
            await client.SendAsync(Line($"m{i}"));
            await ReceiveLineAsync(client, $"m{i}");
        }
        var serviceThread = "ferry " + h.Stage.Name;
        Assert.NotEqual(serviceThread, Assert.Single(startedOn));
        var names = messagesOn.ToArray();
        Assert.Equal(20, names.Length);
        if (scheduling == HandlerScheduling.ThreadPool)
        {
            Assert.All(names, name => Assert.NotEqual(serviceThread, name));
            return;
        }
        // A message that finds the handler waiting runs it on the service thread. One that comes while the
        // handler is still on a pool thread (just started, or its answer sent by another pool thread before it
        // waits again) is taken there; once a run has been inline, the answer goes out after the handler
        // waits again, so every later message finds it waiting.
        var first = Array.IndexOf(names, serviceThread);
        Assert.InRange(first, 0, 5);
        Assert.All(names.Skip(first), name => Assert.Equal(serviceThread, name));
    }

    [Fact]
    public async Task An_inline_handler_that_holds_the_service_thread_past_its_budget_twice_moves_to_the_thread_pool_alone()
    {
        var time = new StageTime();
        await using var h = new FerryTestServer(Lines, recordPackets: false, time: time);
        var serviceThread = "ferry " + h.Stage.Name;
        var threads = new ConcurrentDictionary<string, ConcurrentQueue<string?>>();
        var overruns = 0;
        h.Stage.MapConnections(async (connection, ct) =>
        {
            await foreach (var message in connection.ReadAsync(ct))
            {
                var text = Encoding.UTF8.GetString(message.Payload.Span);
                var onServiceThread = Thread.CurrentThread.Name == serviceThread;
                threads.GetOrAdd(text[..4], _ => new ConcurrentQueue<string?>()).Enqueue(onServiceThread ? "service" : (overruns == 2 ? "pool after" : "pool before"));
                if (text.StartsWith("slow", StringComparison.Ordinal) && onServiceThread && overruns < 2)
                {
                    overruns++;
                    time.Advance(TimeSpan.FromMilliseconds(5)); // stands in for 5 ms of work on the service thread
                }
                await connection.SendAsync(message.Payload, cancellationToken: ct);
            }
        }, new ConnectionHandlerOptions { Scheduling = scheduling, InlineBudget = TimeSpan.FromMilliseconds(2) });
        await h.StartAsync();
        using var slow = await h.ConnectAsync();
        using var fast = await h.ConnectAsync();
        await h.WaitForConnectionAsync(slow.LocalEndPoint);
        await h.WaitForConnectionAsync(fast.LocalEndPoint);
        await Poll.UntilAsync(() => h.Stage.GetStats().ConnectionsNow == 2, "both connections");
        for (var i = 0; i < 20; i++)
        {
            await slow.SendAsync(Line($"slow-{i}"));
            await ReceiveLineAsync(slow, $"slow-{i}");
            await fast.SendAsync(Line($"fast-{i}"));
            await ReceiveLineAsync(fast, $"fast-{i}");
        }
        var warnings = h.Events.OfType<StageErrorEvent>().Where(e => e.Message.Contains("inline budget", StringComparison.Ordinal)).ToList();
        if (scheduling == HandlerScheduling.ThreadPool)
        {
            Assert.Equal(0, overruns); // nothing runs on the service thread
            Assert.Empty(warnings);
            return;
        }
        // One overrun is forgiven (a preempted thread looks the same); the second within a second moves it.
        Assert.Equal(2, overruns);
        var warning = Assert.Single(warnings);
        Assert.Equal(StageErrorKind.Handler, warning.Kind);
        Assert.Equal(slow.LocalEndPoint.Port, h.Stage.GetConnections().Single(c => c.Id == warning.ConnectionId).Peer.Port);
        Assert.Contains("held the service thread for 5.0 ms (inline budget 2.0 ms), the second time within 1 s", warning.Message);
        Assert.Contains("thread pool from now on", warning.Message);
        // After the second overrun, the slow connection's handler runs on the thread pool only.
        var slowRuns = threads["slow"].ToArray();
        Assert.Equal(2, slowRuns.Count(r => r == "service"));
        Assert.Equal("service", slowRuns.Last(r => r != "pool after"));
        Assert.Contains("pool after", slowRuns);
        // The other connection's handler was not moved: from its first inline run on, all its runs are inline.
        var fastRuns = threads["fast"].ToArray();
        Assert.All(fastRuns.SkipWhile(r => r != "service"), r => Assert.Equal("service", r));
        Assert.InRange(fastRuns.Count(r => r == "service"), 15, 20);
    }

    [Fact]
    public async Task Under_the_wait_policy_a_handlers_answers_to_a_client_that_does_not_read_wait_for_room_and_nothing_is_dropped()
    {
        const int lines = 10_000;
        const int egressLimit = 16 * 1024;
        var line = new string('w', 1000);
        await using var h = new FerryTestServer(Lines with
        {
            EgressOverflow = EgressOverflowPolicy.Wait,
            EgressBufferBytes = egressLimit,
            EgressWaitTimeout = TimeSpan.FromSeconds(60),
        }, recordPackets: false);
        Map(h, Echo, 64);
        await h.StartAsync();
        using var client = await h.ConnectAsync();
        var id = (await h.WaitForConnectionAsync(client.LocalEndPoint)).ConnectionId;
        var payload = Encoding.UTF8.GetBytes(string.Concat(Enumerable.Range(0, lines).Select(i => $"{i:D5}{line}\n")));
        var sending = client.SendAsync(payload); // about 10 MB: more than the echo path's kernel buffers (server send, client receive) hold
        // The client does not read: the answers back up into the stage's egress buffer, which must stay at
        // its limit (plus the one message being added), while the handler waits and its inbox pauses reads.
        var maxQueued = 0;
        await Poll.UntilAsync(() =>
        {
            var queued = h.Stage.GetConnections().FirstOrDefault(c => c.Id == id)?.EgressBytesQueued ?? 0;
            maxQueued = Math.Max(maxQueued, queued);
            return queued >= egressLimit / 2;
        }, "the egress buffer to back up");
        for (var i = 0; i < 20; i++)
        {
            await Task.Delay(10);
            maxQueued = Math.Max(maxQueued, h.Stage.GetConnections().FirstOrDefault(c => c.Id == id)?.EgressBytesQueued ?? 0);
        }
        Assert.InRange(maxQueued, egressLimit / 2, egressLimit + line.Length + 16);

        // Now the client reads: every answer arrives, in order, none dropped.
        var received = await client.ReceiveExactlyAsync(payload.Length, TimeSpan.FromSeconds(60));
        Assert.Equal(payload, received);
        await sending.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Equal(0, h.Stage.GetStats().EgressPacketsDroppedTotal);
    }

    [Fact]
    public async Task Handler_options_out_of_range_are_refused_with_the_option_the_value_and_what_is_allowed()
    {
        await using var h = new FerryTestServer(Lines, recordPackets: false);
        var budget = Assert.Throws<ArgumentOutOfRangeException>(() => h.Stage.MapConnections(Echo, new ConnectionHandlerOptions { InlineBudget = TimeSpan.Zero }));
        Assert.Equal("InlineBudget is 00:00:00; allowed: above zero, at most 1 s (Parameter 'InlineBudget')\nActual value was 00:00:00.", budget.Message.ReplaceLineEndings("\n"));
        var longBudget = Assert.Throws<ArgumentOutOfRangeException>(() => h.Stage.MapConnections(Echo, new ConnectionHandlerOptions { InlineBudget = TimeSpan.FromSeconds(2) }));
        Assert.StartsWith("InlineBudget is 00:00:02; allowed: above zero, at most 1 s", longBudget.Message);
        var where = Assert.Throws<ArgumentOutOfRangeException>(() => h.Stage.MapConnections(Echo, new ConnectionHandlerOptions { Scheduling = (HandlerScheduling)7 }));
        Assert.StartsWith("Scheduling is 7; allowed: ThreadPool, Inline", where.Message);
        var queue = Assert.Throws<ArgumentOutOfRangeException>(() => h.Stage.MapConnections(Echo, new ConnectionHandlerOptions { MaxQueuedMessages = 0 }));
        Assert.StartsWith("MaxQueuedMessages is 0; allowed: 1 or more", queue.Message);
        // Nothing was mapped by the refused calls: a good mapping still works.
        h.Stage.MapConnections(Echo, new ConnectionHandlerOptions { Scheduling = scheduling });
    }
}
