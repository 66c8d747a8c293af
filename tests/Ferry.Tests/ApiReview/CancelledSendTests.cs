using System.Text;
using Ferry.Connections;
using Ferry.Stages;
using Ferry.Tests.Support;

namespace Ferry.Tests.ApiReview;

/// <summary>
/// A token already cancelled cancels a send before anything is queued, held or counted, as .NET's own sends do. The sends
/// used to look at the token only while waiting for room (the <c>wait</c> policy), so such a send was queued, or counted as
/// dropped.
/// </summary>
public sealed class CancelledSendTests
{
    private static readonly byte[] Payload = "x"u8.ToArray();

    private static CancellationToken Cancelled() => new(canceled: true);

    /// <summary>Awaits a send that must end cancelled, and says so when it did not.</summary>
    private static async Task AssertCancelledAsync<T>(Func<ValueTask<T>> send)
    {
        var sending = send();
        // Before: completed with an answer (queued, or false and counted), the token ignored.
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () => await sending);
        Assert.True(sending.IsCanceled);
    }

    [Fact]
    public async Task A_server_send_with_a_cancelled_token_is_cancelled_and_queues_and_counts_nothing()
    {
        await using var h = new FerryTestServer(new TcpServerStageOptions(), recordPackets: false);
        await h.StartAsync();
        await using var client = await h.ConnectAsync();
        var id = (await h.WaitForConnectionAsync(client)).ConnectionId;
        Assert.True(h.Stage.JoinGroup(id, "room"));
        var gone = new ConnectionId(id.Instance, id.Sequence + 1000);

        await AssertCancelledAsync(() => h.Stage.SendAsync(id, Payload, cancellationToken: Cancelled()));
        await AssertCancelledAsync(() => h.Stage.SendAsync(gone, Payload, cancellationToken: Cancelled()));
        await AssertCancelledAsync(() => h.Stage.SendWithOutcomeAsync(EgressMessage.To(id, Payload), Cancelled()));
        await AssertCancelledAsync(() => h.Stage.BroadcastAsync(Payload, cancellationToken: Cancelled()));
        await AssertCancelledAsync(() => h.Stage.SendToGroupAsync("room", Payload, cancellationToken: Cancelled()));
        await AssertCancelledAsync(() => h.Stage.SendToGroupAsync("nobody's", Payload, cancellationToken: Cancelled()));
        await AssertCancelledAsync(() => h.Stage.SendToAnyAsync(Payload, cancellationToken: Cancelled()));

        var stats = h.Stage.GetStats();
        Assert.Equal(0, stats.EgressPacketsDroppedTotal);
        Assert.Equal(0, stats.EgressUnknownTargetTotal);
        // Nothing went to the client: the first bytes it reads are those sent after.
        Assert.True(await h.Stage.SendAsync(id, "after"u8.ToArray()));
        Assert.Equal("after", Encoding.ASCII.GetString(await client.ReceiveExactlyAsync(5)));
    }

    [Fact]
    public async Task A_publish_on_the_egress_topic_with_a_cancelled_token_is_cancelled_and_sends_nothing()
    {
        await using var h = new FerryTestServer(new TcpServerStageOptions(), recordPackets: false);
        await h.StartAsync();
        await using var client = await h.ConnectAsync();
        var id = (await h.WaitForConnectionAsync(client)).ConnectionId;
        var egress = h.Bus.Topic<EgressMessage>(StageTopics.EgressPackets(h.Stage.Name));

        // Before: routed and written as if the token had not been given.
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () => await egress.PublishAsync(EgressMessage.To(id, "never"u8.ToArray()), Cancelled()));
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () => await egress.PublishAsync(EgressMessage.ToAll("never"u8.ToArray()), Cancelled()));

        Assert.Equal(0, h.Stage.GetStats().EgressPacketsDroppedTotal);
        await egress.PublishAsync(EgressMessage.To(id, "after"u8.ToArray()));
        Assert.Equal("after", Encoding.ASCII.GetString(await client.ReceiveExactlyAsync(5)));
    }

    [Fact]
    public async Task A_broadcast_to_nobody_with_a_cancelled_token_counts_no_drop()
    {
        await using var h = new FerryTestServer(new TcpServerStageOptions(), recordPackets: false);
        await h.StartAsync();

        await AssertCancelledAsync(() => h.Stage.BroadcastAsync(Payload, cancellationToken: Cancelled()));
        await AssertCancelledAsync(() => h.Stage.SendWithOutcomeAsync(EgressMessage.ToAll(Payload), Cancelled()));

        // Before: each was a broadcast to nobody, dropped and counted.
        Assert.Equal(0, h.Stage.GetStats().EgressPacketsDroppedTotal);
        Assert.Equal(0, await h.Stage.BroadcastAsync(Payload)); // an uncancelled one is counted as it always was
        Assert.Equal(1, h.Stage.GetStats().EgressPacketsDroppedTotal);
    }

    [Fact]
    public async Task A_client_send_with_a_cancelled_token_holds_nothing_and_after_a_stop_counts_nothing()
    {
        var port = FreePorts.One();
        var time = new StageTime(); // nobody listens yet; the next attempt comes when the test moves the clock
        await using var stage = new TcpClientStage(new TcpClientStageOptions
        {
            Connect = $"127.0.0.1:{port}",
            ReconnectWait = TimeSpan.FromMilliseconds(20),
            ReconnectMaxWait = TimeSpan.FromMilliseconds(50),
        }, timeProvider: time);
        var connecting = stage.ConnectAsync();

        // Before: held, and written to the first connection.
        await AssertCancelledAsync(() => stage.SendAsync("held?"u8.ToArray(), cancellationToken: Cancelled()));
        await AssertCancelledAsync(() => stage.SendWithOutcomeAsync("held?"u8.ToArray(), cancellationToken: Cancelled()));
        await AssertCancelledAsync(() => stage.SendToConnectionAsync(new ConnectionId(1, 1), Payload, cancellationToken: Cancelled()));
        await AssertCancelledAsync(() => stage.SendToConnectionWithOutcomeAsync(new ConnectionId(1, 1), Payload, cancellationToken: Cancelled()));
        Assert.Equal(0, stage.GetStats().EgressUnknownTargetTotal);
        Assert.True(await stage.SendAsync("kept\n"u8.ToArray()));

        await using var server = new FerryTestServer(new TcpServerStageOptions { Bind = $"127.0.0.1:{port}" });
        await server.StartAsync();
        await time.AdvanceUntilAsync(() => connecting.IsCompleted, TimeSpan.FromMilliseconds(20), "the client to connect");
        await connecting;
        var packets = await server.WaitForPacketsAsync(p => p.Sum(x => x.Payload.Length) >= 5, "the held message");
        Assert.Equal("kept\n", Encoding.ASCII.GetString(packets.SelectMany(p => p.Payload).ToArray()));

        await stage.StopAsync();
        await AssertCancelledAsync(() => stage.SendAsync(Payload, cancellationToken: Cancelled()));
        await AssertCancelledAsync(() => stage.SendWithOutcomeAsync(Payload, cancellationToken: Cancelled()));
        // Before: false, and counted as dropped.
        Assert.Equal(0, stage.GetStats().EgressPacketsDroppedTotal);
        Assert.False(await stage.SendAsync(Payload));
        Assert.Equal(1, stage.GetStats().EgressPacketsDroppedTotal);
    }

    [Fact]
    public async Task A_handler_send_with_a_cancelled_token_is_cancelled_and_sends_nothing()
    {
        await using var h = new FerryTestServer(new TcpServerStageOptions(), recordPackets: false);
        var outcome = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        h.Stage.MapConnections(async (connection, ct) =>
        {
            var sending = connection.SendAsync("never"u8.ToArray(), cancellationToken: Cancelled());
            try
            {
                await sending;
                outcome.TrySetResult("completed");
            }
            catch (OperationCanceledException)
            {
                outcome.TrySetResult(sending.IsCanceled ? "cancelled" : "faulted");
            }
            await connection.SendAsync("after"u8.ToArray(), cancellationToken: ct);
        });
        await h.StartAsync();
        await using var client = await h.ConnectAsync();

        Assert.Equal("cancelled", await outcome.Task.WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.Equal("after", Encoding.ASCII.GetString(await client.ReceiveExactlyAsync(5)));
    }
}
