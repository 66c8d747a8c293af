using Ferry.Bridge;
using Ferry.Bridge.Internal;
using Ferry.Bus;
using Ferry.Testing;

namespace Ferry.Tests.Bridge;

/// <summary>
/// A send the PUSH stage answers "every connection full" (its hold for a full peer is over, for a sender on a service
/// thread, which must not wait) rather than "no connection". Before, the bridge took any "not sent" for "no connection"
/// and waited for the PUSH peers to change, which need not ever happen: the peer stays, and its room comes and goes
/// unseen. The fake PUSH stage answers full until the test makes room, the peers unchanged throughout.
/// </summary>
public sealed class AllFullWaitTests
{
    [Fact]
    public async Task A_send_that_finds_every_peer_full_goes_out_once_room_appears_with_the_peers_unchanged()
    {
        var end = BridgeEnd.Create("127.0.0.1", 5555, new FrameBridgeOptions(), "Server");
        var push = new FakePushStage("PUSH");
        end.Attach(push, new FakePushStage("PULL"), new InProcessBus());
        push.HasEstablished = true;
        push.RaiseConnected(1);
        push.HasRoom = false;
        var payload = new byte[] { 7, 8, 9 };

        var send = end.SendAsync(new Frame(payload), CancellationToken.None).AsTask();
        Assert.False(send.IsCompleted, "the send should wait: every peer is full");
        await Poll.UntilAsync(() => push.Attempts == 1, "the sender to try the stage once");
        Assert.Empty(push.Sent);

        push.MakeRoom(); // the same peer drains; nobody arrives or leaves

        // Before: still waiting for the peers to change when the deadline passed.
        await send.WaitAsync(Poll.DefaultTimeout);
        Assert.Equal(payload, Assert.Single(push.Sent));
        Assert.Equal(1, end.Counters.FramesSent);
        // Not round and round while full: one try, one wait, one try once there was room.
        Assert.Equal(2, push.Attempts);
    }

    [Fact]
    public async Task A_send_waiting_for_room_goes_to_a_peer_that_arrives_with_room()
    {
        var end = BridgeEnd.Create("127.0.0.1", 5555, new FrameBridgeOptions(), "Server");
        var push = new FakePushStage("PUSH");
        end.Attach(push, new FakePushStage("PULL"), new InProcessBus());
        push.HasEstablished = true;
        push.RaiseConnected(1);
        push.HasRoom = false;

        var send = end.SendAsync(new Frame(new byte[] { 1 }), CancellationToken.None).AsTask();
        await Poll.UntilAsync(() => push.Attempts == 1, "the sender to try the stage once");
        push.HasRoom = true; // the new peer has room (the fake's room is the stage's)
        push.RaiseConnected(2);

        await send.WaitAsync(Poll.DefaultTimeout);
        Assert.Single(push.Sent);
    }
}
