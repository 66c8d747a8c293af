using System.Net;
using System.Net.Sockets;
using Ferry.Stages;
using Ferry.Tests.Support;
using Ferry.Transport;

namespace Ferry.Tests.Stages;

/// <summary>
/// <see cref="IAnyEgressStage.WhenRoomForAny"/> on a real stage, what a frame bridge end waits for after "every peer full":
/// pending while every established connection is full, complete once one drains to its low-water mark; at once with nobody.
/// </summary>
public abstract class AnyRoomTests(StageTransport transport)
{
    /// <summary>These tests on the epoll transport.</summary>
    public sealed class OnEpoll() : AnyRoomTests(StageTransport.Epoll);

    /// <summary>These tests on the portable stream transport.</summary>
    public sealed class OnStream() : AnyRoomTests(StageTransport.Stream);

    private StageTransport Transport => transport;

    [Fact]
    public async Task Room_for_any_waits_while_every_connection_is_full_and_completes_once_one_drains()
    {
        await using var h = new FerryTestServer(new TcpServerStageOptions
        {
            EgressBufferBytes = 128 * 1024,
            EgressOverflow = EgressOverflowPolicy.Drop,
            Socket = new TcpSocketOptions { SendBufferSize = 8 * 1024 },
        }.On(Transport));
        await h.StartAsync();
        IAnyEgressStage any = h.Stage;
        Assert.True(any.WhenRoomForAny(64 * 1024).IsCompleted, "with no connection the caller must find out by sending, not wait");

        using var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { ReceiveBufferSize = 4096 };
        await client.ConnectAsync(h.EndPoint);
        await h.WaitForConnectionAsync((IPEndPoint)client.LocalEndPoint!);
        var outcome = SendOutcome.Queued;
        for (var i = 0; i < 4000 && outcome == SendOutcome.Queued; i++)
            outcome = await h.Stage.SendWithOutcomeAsync(EgressMessage.ToAny(new byte[1000]));
        Assert.Equal(SendOutcome.Dropped, outcome);

        // 64 KiB of room is half the buffer: a client that never reads cannot make that much.
        var room = any.WhenRoomForAny(64 * 1024);
        Assert.False(room.IsCompleted, "the only connection is full");

        // The client reads until the room is there (the last read may come before the room is reported: not waited on then).
        var buffer = new byte[64 * 1024];
        var deadline = Task.Delay(TimeSpan.FromSeconds(30));
        while (!room.IsCompleted)
        {
            var reading = client.ReceiveAsync(buffer, SocketFlags.None);
            var first = await Task.WhenAny(reading, room, deadline);
            Assert.NotSame(deadline, first);
            if (first != reading)
                break;
        }
        await room;
    }
}
