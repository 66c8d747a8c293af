using Ferry.Connections;
using Ferry.Stages;
using Ferry.Tests.Support;

namespace Ferry.Tests.ApiReview;

/// <summary>
/// A send to one connection before the stage started was answered "no connection" and counted in <c>egress_unknown_target</c>,
/// as if a client had left; no connection of the stage's can exist yet, so it is refused as the misuse it is. Sends to
/// whoever is there (the remote of a client stage, everyone, any one, a group) are answered as while nobody is connected.
/// </summary>
public sealed class SendBeforeStartTests
{
    private static readonly byte[] Payload = "x"u8.ToArray();

    [Fact]
    public async Task A_server_send_to_a_connection_before_the_start_is_refused_and_counted_nowhere()
    {
        await using var stage = new TcpServerStage(new TcpServerStageOptions { Name = "early", Bind = "127.0.0.1:0" });
        var id = new ConnectionId(1, 1);

        // Before: false or NoConnection, counted in egress_unknown_target, as if a client had left.
        var error = Assert.Throws<InvalidOperationException>(() => { _ = stage.SendAsync(id, Payload); });
        Assert.Equal("stage 'early' is not started; call Start or StartAsync before sending", error.Message);
        Assert.Throws<InvalidOperationException>(() => { _ = stage.SendWithOutcomeAsync(EgressMessage.To(id, Payload)); });
        Assert.Equal(0, stage.GetStats().EgressUnknownTargetTotal);
        // "Whoever is there" is answered as while nobody is connected: a broadcast to nobody is dropped and counted as such.
        Assert.Equal(0, await stage.BroadcastAsync(Payload));
        Assert.Equal(SendOutcome.NoConnection, await stage.SendWithOutcomeAsync(EgressMessage.ToAny(Payload)));
        Assert.Equal(0, await stage.SendToGroupAsync("room", Payload));
        Assert.Equal(0, stage.GetStats().EgressUnknownTargetTotal);

        // Once started, the same send is an ordinary one to a connection that does not exist.
        await stage.StartAsync();
        Assert.False(await stage.SendAsync(id, Payload));
        Assert.Equal(1, stage.GetStats().EgressUnknownTargetTotal);
        // After a stop, senders on other threads cannot know: answered as for connections that are gone, not thrown at.
        await stage.StopAsync();
        Assert.False(await stage.SendAsync(id, Payload));
    }

    [Fact]
    public async Task A_server_stopped_before_it_started_answers_sends_as_after_any_stop()
    {
        await using var stage = new TcpServerStage(new TcpServerStageOptions { Bind = "127.0.0.1:0" });
        await stage.StopAsync();
        Assert.False(await stage.SendAsync(new ConnectionId(1, 1), Payload));
        Assert.Equal(SendOutcome.NoConnection, await stage.SendWithOutcomeAsync(EgressMessage.To(new ConnectionId(1, 1), Payload)));
    }

    [Fact]
    public async Task A_client_send_on_a_connection_before_the_start_is_refused_and_one_to_the_remote_is_held()
    {
        await using var stage = new TcpClientStage(new TcpClientStageOptions { Name = "early-client", Connect = $"127.0.0.1:{FreePorts.One()}" });
        var id = new ConnectionId(1, 1);

        // Before: false or NoConnection, counted in egress_unknown_target.
        var error = Assert.Throws<InvalidOperationException>(() => { _ = stage.SendToConnectionAsync(id, Payload); });
        Assert.Equal("stage 'early-client' is not started; call Start or ConnectAsync before sending", error.Message);
        Assert.Throws<InvalidOperationException>(() => { _ = stage.SendToConnectionWithOutcomeAsync(id, Payload); });
        Assert.Equal(0, stage.GetStats().EgressUnknownTargetTotal);
        // To the remote, before the start is while disconnected: held for the first connection (the way to be its first message).
        Assert.True(await stage.SendAsync(Payload));
        Assert.Equal(SendOutcome.Held, await stage.SendWithOutcomeAsync(Payload));

        await stage.StopAsync();
        Assert.False(await stage.SendToConnectionAsync(id, Payload));
        Assert.Equal(SendOutcome.NoConnection, await stage.SendToConnectionWithOutcomeAsync(id, Payload));
        Assert.False(await stage.SendAsync(Payload));
    }
}
