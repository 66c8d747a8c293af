using System.Net;
using System.Net.Sockets;
using Ferry.Connections;
using Ferry.Stages;
using Ferry.Tests.Support;
using Ferry.Transport;

namespace Ferry.Tests.Stages;

/// <summary>
/// <see cref="TcpClientStage.SendWithOutcomeAsync"/> and <see cref="TcpClientStage.SendToConnectionWithOutcomeAsync"/>: queued on
/// the connection, held for the next one, dropped by the overflow policy, or no connection (the disconnected policy drops,
/// the stage stopped or gave up, the connection a message is bound to has closed).
/// </summary>
public abstract class ClientSendOutcomeTests(StageTransport transport)
{
    /// <summary>These tests on the epoll transport.</summary>
    public sealed class OnEpoll() : ClientSendOutcomeTests(StageTransport.Epoll);

    /// <summary>These tests on the portable stream transport.</summary>
    public sealed class OnStream() : ClientSendOutcomeTests(StageTransport.Stream);

    private StageTransport Transport => transport;

    private TcpClientStageOptions To(IPEndPoint remote) => new TcpClientStageOptions
    {
        Connect = remote.ToString(),
        // A lost connection stays lost for the test's length (the real clock): the stage is disconnected meanwhile.
        ReconnectWait = TimeSpan.FromMinutes(10),
        ReconnectMaxWait = TimeSpan.FromMinutes(10),
    }.On(Transport);

    [Fact]
    public async Task Connected_a_message_is_queued_and_to_a_closed_connection_finds_no_connection_while_the_next_is_held()
    {
        await using var server = new FerryTestServer(new TcpServerStageOptions().On(Transport));
        await server.StartAsync();
        await using var client = new TcpClientStage(To(server.EndPoint));
        await client.ConnectAsync();
        var id = client.ConnectionId;
        var serverSide = (await server.WaitForEventAsync<ConnectedEvent>()).ConnectionId;

        Assert.Equal(SendOutcome.Queued, await client.SendWithOutcomeAsync("one,"u8.ToArray()));
        Assert.Equal(SendOutcome.Queued, await client.SendToConnectionWithOutcomeAsync(id, "two"u8.ToArray()));
        Assert.Equal("one,two"u8.ToArray(), await server.WaitForBytesFromAsync(serverSide, 7));

        // The server ends the connection; the client waits 10 minutes before it dials again.
        var lost = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        client.Disconnected += (_, _) => lost.TrySetResult();
        Assert.True(server.Stage.Close(serverSide));
        await lost.Task.WaitAsync(TimeSpan.FromSeconds(30));

        Assert.Equal(SendOutcome.NoConnection, await client.SendToConnectionWithOutcomeAsync(id, "late"u8.ToArray()));
        Assert.Equal(SendOutcome.Held, await client.SendWithOutcomeAsync("for the next"u8.ToArray()));
        Assert.Equal(0, client.GetStats().EgressPacketsDroppedTotal);
        // Bound to a connection, a message is never held: no connection, also while none is there.
        Assert.Equal(SendOutcome.NoConnection, await client.SendToConnectionWithOutcomeAsync(client.ConnectionId, "none"u8.ToArray()));
    }

    [Fact]
    public async Task Never_connected_a_message_is_held_under_hold_and_finds_no_connection_under_drop()
    {
        var nobody = new IPEndPoint(IPAddress.Loopback, FreePorts.One()); // every attempt is refused
        await using (var holding = new TcpClientStage(To(nobody)))
        {
            holding.Start();
            Assert.Equal(SendOutcome.Held, await holding.SendWithOutcomeAsync("kept"u8.ToArray()));
            Assert.Equal(0, holding.GetStats().EgressPacketsDroppedTotal);
        }
        await using var dropping = new TcpClientStage(To(nobody) with { EgressWhileDisconnected = DisconnectedEgressPolicy.Drop });
        dropping.Start();
        Assert.Equal(SendOutcome.NoConnection, await dropping.SendWithOutcomeAsync("gone"u8.ToArray()));
        Assert.Equal(1, dropping.GetStats().EgressPacketsDroppedTotal);
    }

    [Fact]
    public async Task A_message_alone_over_the_holds_bound_finds_no_connection()
    {
        var nobody = new IPEndPoint(IPAddress.Loopback, FreePorts.One());
        await using var client = new TcpClientStage(To(nobody) with { EgressBufferBytes = 4096 });
        client.Start();
        Assert.Equal(SendOutcome.NoConnection, await client.SendWithOutcomeAsync(new byte[5000]));
        Assert.Equal(SendOutcome.Held, await client.SendWithOutcomeAsync(new byte[100]));
        Assert.Equal(1, client.GetStats().EgressPacketsDroppedTotal);
    }

    [Fact]
    public async Task Connected_to_a_peer_that_does_not_read_a_full_buffer_drops_the_message()
    {
        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { ReceiveBufferSize = 4096 };
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen();
        var accepting = listener.AcceptAsync();
        await using var client = new TcpClientStage(To((IPEndPoint)listener.LocalEndPoint!) with
        {
            EgressBufferBytes = 32 * 1024,
            EgressOverflow = EgressOverflowPolicy.Drop,
            Socket = new TcpSocketOptions { SendBufferSize = 8 * 1024 },
        });
        await client.ConnectAsync();
        using var peer = await accepting.WaitAsync(TimeSpan.FromSeconds(30)); // and never reads

        // Until one is not queued (bounded: 4 MB, far more than the buffer and both sockets' buffers); each way of sending in
        // turn, as a write the stream transport finishes late may still make a little room after a drop.
        var id = client.ConnectionId;
        Assert.Equal(SendOutcome.Dropped, await FillAsync(() => client.SendWithOutcomeAsync(new byte[1000])));
        Assert.Equal(SendOutcome.Dropped, await FillAsync(() => client.SendToConnectionWithOutcomeAsync(id, new byte[1000])));
        Assert.Equal(2, client.GetStats().EgressPacketsDroppedTotal);
        Assert.True(client.IsConnected);
    }

    private static async Task<SendOutcome> FillAsync(Func<ValueTask<SendOutcome>> send)
    {
        for (var i = 0; i < 4000; i++)
        {
            var outcome = await send();
            if (outcome != SendOutcome.Queued)
                return outcome;
        }
        return SendOutcome.Queued;
    }

    [Fact]
    public async Task Stopped_or_given_up_no_connection_will_come()
    {
        var nobody = new IPEndPoint(IPAddress.Loopback, FreePorts.One());
        await using var givingUp = new TcpClientStage(To(nobody) with { ReconnectAttempts = 1 });
        givingUp.Start();
        await Poll.UntilAsync(() => givingUp.Dialer.GaveUp, "the stage to give up after its one attempt");
        Assert.Equal(SendOutcome.NoConnection, await givingUp.SendWithOutcomeAsync("late"u8.ToArray()));
        Assert.Equal(1, givingUp.GetStats().EgressPacketsDroppedTotal);

        await using var server = new FerryTestServer(new TcpServerStageOptions().On(Transport));
        await server.StartAsync();
        var stopped = new TcpClientStage(To(server.EndPoint));
        await stopped.ConnectAsync();
        var id = stopped.ConnectionId;
        await stopped.StopAsync();
        Assert.Equal(SendOutcome.NoConnection, await stopped.SendWithOutcomeAsync("after"u8.ToArray()));
        Assert.Equal(SendOutcome.NoConnection, await stopped.SendToConnectionWithOutcomeAsync(id, "after"u8.ToArray()));
        Assert.Equal(2, stopped.GetStats().EgressPacketsDroppedTotal);
        await stopped.DisposeAsync();
    }

    [Fact]
    public async Task A_payload_the_framing_cannot_carry_fails_the_task()
    {
        var nobody = new IPEndPoint(IPAddress.Loopback, FreePorts.One());
        await using var client = new TcpClientStage(To(nobody) with { Framing = Ferry.Framing.FramingSpec.Parse("u16be") });
        client.Start();
        var tooLarge = new byte[70_000];
        // Encoded as it is held, so it fails now, not when the next connection comes; in the task, as SendAsync's failure is.
        var sending = client.SendWithOutcomeAsync(tooLarge).AsTask();
        await Assert.ThrowsAsync<Ferry.Framing.FramingException>(() => sending);
        Assert.Equal(0, client.GetStats().EgressPacketsDroppedTotal);
    }
}
