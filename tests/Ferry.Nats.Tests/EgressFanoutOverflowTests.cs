using System.Net;
using System.Net.Sockets;
using Ferry.Framing;
using Ferry.Nats.Tests.Support;
using Ferry.Stages;
using Ferry.Transport;
using NATS.Client.Core;

namespace Ferry.Nats.Tests;

/// <summary>
/// A message to a group, or to everyone, that every connection's overflow policy dropped is an overflow: the clients are
/// there and slow. It used to be counted as no target ("nobody in the group"), because the stage answered those sends with
/// how many took it, 0 either way; the stage now says which (<see cref="TcpServerStage.SendWithOutcomeAsync"/>).
/// </summary>
public sealed class EgressFanoutOverflowTests
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(20);

    [SkippableTheory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task A_group_or_broadcast_message_every_member_dropped_is_an_overflow_not_no_target(bool toGroup)
    {
        await using var server = await NatsServer.StartNewAsync();
        await using var nats = await Observer.ConnectAsync(server);
        await using var gateway = await Gateway.StartAsync(server, "slow", FramingSpec.Parse("lines"),
            stageOptions: o => o with { EgressBufferBytes = 4096, EgressOverflow = EgressOverflowPolicy.Drop, Socket = new TcpSocketOptions { SendBufferSize = 8 * 1024 } });
        // A client that never reads, its window small from the start: the stage's buffer for it soon stays full.
        using var stalled = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { ReceiveBufferSize = 4096 };
        await stalled.ConnectAsync(IPAddress.Loopback, gateway.Port);
        var id = await gateway.ConnectionOfAsync(((IPEndPoint)stalled.LocalEndPoint!).Port);
        Assert.True(gateway.Stage.JoinGroup(id, "room"));

        var headers = toGroup ? new NatsHeaders { ["group"] = "room" } : null;
        var payload = new byte[999];
        payload.AsSpan().Fill((byte)'x');
        const int Messages = 400; // 400 KB for a client that takes a few tens of KB
        for (var i = 0; i < Messages; i++)
            await nats.PublishAsync("ferry.slow.out", payload, headers);

        await Eventually.TrueAsync(() => gateway.Nats.Counters.EgressReceived + gateway.Nats.Counters.ClientDropped >= Messages, Bound,
            () => gateway.Nats.Counters.ToString());
        var c = gateway.Nats.Counters;
        Assert.True(c.EgressOverflow > 0, c.ToString());
        Assert.Equal(0, c.EgressNoTarget);
        Assert.Equal(c.EgressReceived, c.EgressDelivered + c.EgressOverflow);
        Assert.Equal(c.EgressOverflow, gateway.Stage.GetStats().EgressPacketsDroppedTotal);
    }
}
