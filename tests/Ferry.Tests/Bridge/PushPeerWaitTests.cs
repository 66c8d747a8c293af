using Ferry.Bridge;
using Ferry.Bridge.Internal;
using Ferry.Bus;
using Ferry.Testing;

namespace Ferry.Tests.Bridge;

/// <summary>
/// A send that finds the PUSH gate open but no connection in the stage: the last peer's connection has ended and the stage
/// counted it closed, while its Disconnected event (which closes the gate) is not handled yet. Before, the sender went round
/// with <c>await Task.Yield()</c> and tried again, a busy spin of a pool thread for as long as the event lagged. The fake
/// PUSH stage holds that window open, and the sender runs in a context that queues what it posts: a spin is seen as
/// posted work that tries again, item after item.
/// </summary>
public sealed class PushPeerWaitTests
{
    [Fact]
    public async Task A_send_that_finds_the_last_peer_gone_waits_for_its_departure_and_goes_to_the_next_peer_without_spinning()
    {
        var (end, push) = Attached();
        var payload = new byte[] { 1, 2, 3 };
        var (send, attempts, yields) = SendWhileTheDepartureLags(end, push, payload);

        Assert.False(send.IsCompleted, "the send should wait: no connection can take it");
        // Before: 101 attempts after 100 yields, and it went on for as long as the Disconnected event was not handled.
        Assert.True(attempts == 1 && yields == 0,
            $"the waiting sender tried {attempts} times and yielded {yields} times while the departure was not handled yet: it spins");

        push.RaiseDisconnected(1); // the gate closes
        push.HasEstablished = true;
        push.RaiseConnected(2); // the next peer: the gate opens again

        await send.WaitAsync(Poll.DefaultTimeout);
        Assert.Equal(2, push.Attempts);
        Assert.Equal(payload, Assert.Single(push.Sent));
        Assert.Equal(1, end.Counters.FramesSent);
    }

    [Fact]
    public async Task A_peer_that_arrives_before_the_last_ones_departure_is_handled_takes_the_waiting_frame()
    {
        // The gate never closes here (a peer is counted throughout): a sender that waited for the gate to close would wait
        // until the old peer's event came, however long that is.
        var (end, push) = Attached();
        var payload = new byte[] { 4, 5 };
        var (send, attempts, yields) = SendWhileTheDepartureLags(end, push, payload);
        Assert.True(attempts == 1 && yields == 0, $"the waiting sender tried {attempts} times and yielded {yields} times: it spins");

        push.HasEstablished = true;
        push.RaiseConnected(2);

        await send.WaitAsync(Poll.DefaultTimeout);
        Assert.Equal(2, push.Attempts);
        Assert.Equal(payload, Assert.Single(push.Sent));
    }

    [Fact]
    public async Task A_stop_fails_a_send_waiting_for_the_peers_to_change()
    {
        var (end, push) = Attached();
        var (send, _, _) = SendWhileTheDepartureLags(end, push, [9]);

        end.BeginStop();

        await Assert.ThrowsAsync<ObjectDisposedException>(() => send.WaitAsync(Poll.DefaultTimeout));
        Assert.Empty(push.Sent);
    }

    private static (BridgeEnd End, FakePushStage Push) Attached()
    {
        var end = BridgeEnd.Create("127.0.0.1", 5555, new FrameBridgeOptions(), "Server");
        var push = new FakePushStage("PUSH");
        end.Attach(push, new FakePushStage("PULL"), new InProcessBus());
        return (end, push);
    }

    /// <summary>
    /// Peer 1 arrives (the gate opens), then its connection ends in the stage but its Disconnected event is held back; a
    /// frame is sent in a context that queues what the sender posts, and up to 100 posted items are run. Returns the
    /// pending send, the sender's attempts and the items it posted.
    /// </summary>
    private static (Task Send, int Attempts, int Yields) SendWhileTheDepartureLags(BridgeEnd end, FakePushStage push, byte[] payload)
    {
        push.HasEstablished = true;
        push.RaiseConnected(1);
        push.HasEstablished = false;
        var work = new PostedWork();
        var send = work.RunIn(() => end.SendAsync(new Frame(payload), CancellationToken.None).AsTask());
        var yields = work.RunPosted(most: 100);
        return (send, push.Attempts, yields);
    }
}
