using Ferry.Transport;
using System.Text;
using Ferry.Bus;
using Ferry.Connections;
using Ferry.Stages;
using Ferry.Tests.Support;

namespace Ferry.Tests.Stages;

public abstract class RoutingTests(StageTransport transport)
{
    /// <summary>These tests on the epoll transport.</summary>
    public sealed class OnEpoll() : RoutingTests(StageTransport.Epoll);

    /// <summary>These tests on the portable stream transport.</summary>
    public sealed class OnStream() : RoutingTests(StageTransport.Stream);

    private StageTransport Transport => transport;

    private static async Task<(FramedTestClient Client, ConnectionId Id)> ConnectAsync(FerryTestServer h)
    {
        var client = await h.ConnectAsync();
        return (client, (await h.WaitForConnectionAsync(client.LocalEndPoint)).ConnectionId);
    }

    private static async Task AssertNothingArrivesAsync(FramedTestClient client)
    {
        client.Socket.ReceiveTimeout = 200;
        var buffer = new byte[64];
        Assert.Throws<System.Net.Sockets.SocketException>(() => client.Socket.Receive(buffer));
        await Task.CompletedTask;
    }

    [Fact]
    public async Task A_message_for_one_connection_reaches_only_that_one()
    {
        await using var h = new FerryTestServer(new TcpServerStageOptions().On(Transport));
        await h.StartAsync();
        var (a, aId) = await ConnectAsync(h);
        var (b, _) = await ConnectAsync(h);
        await h.Bus.Topic<EgressMessage>(StageTopics.EgressPackets(h.Stage.Name)).PublishAsync(EgressMessage.To(aId, "private"u8.ToArray()));
        Assert.Equal("private", Encoding.ASCII.GetString(await a.ReceiveExactlyAsync(7)));
        Assert.True(await h.Stage.SendAsync(aId, "api"u8.ToArray()));
        Assert.Equal("api", Encoding.ASCII.GetString(await a.ReceiveExactlyAsync(3)));
        await AssertNothingArrivesAsync(b);
        a.Dispose();
        b.Dispose();
    }

    [Fact]
    public async Task An_unknown_or_closed_connection_id_is_counted_not_thrown()
    {
        await using var h = new FerryTestServer(new TcpServerStageOptions().On(Transport));
        await h.StartAsync();
        var (a, aId) = await ConnectAsync(h);
        a.Dispose();
        await h.WaitForDisconnectAsync(aId);
        await h.Bus.Topic<EgressMessage>(StageTopics.EgressPackets(h.Stage.Name)).PublishAsync(EgressMessage.To(aId, new byte[3]));
        Assert.False(await h.Stage.SendAsync(new ConnectionId(1, 999), new byte[3]));
        Assert.Equal(2, h.Stage.GetStats().EgressUnknownTargetTotal);
    }

    [Theory]
    [InlineData(EgressOverflowPolicy.Drop)]
    [InlineData(EgressOverflowPolicy.Wait)]
    public async Task A_message_to_a_connection_still_in_its_handshake_is_counted_under_every_policy(EgressOverflowPolicy policy)
    {
        // A ZMTP peer that has not sent its greeting: the connection is in the table, not established.
        await using var h = new FerryTestServer(new TcpServerStageOptions
        {
            Framing = Ferry.Framing.FramingSpec.Parse("zmtp,socket=push"),
            EgressOverflow = policy,
        }.On(Transport));
        await h.StartAsync();
        using var peer = new System.Net.Sockets.Socket(System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Tcp);
        await peer.ConnectAsync(h.EndPoint);
        await Poll.UntilAsync(() => h.Stage.GetConnections().Count == 1, "the connection to be taken");
        var id = h.Stage.GetConnections().Single().Id;

        Assert.False(await h.Stage.SendAsync(id, "too early"u8.ToArray()));
        Assert.Equal(1, h.Stage.GetStats().EgressUnknownTargetTotal);
    }

    [Fact]
    public async Task A_broadcast_can_leave_out_the_sender()
    {
        await using var h = new FerryTestServer(new TcpServerStageOptions().On(Transport));
        await h.StartAsync();
        var (a, aId) = await ConnectAsync(h);
        var (b, _) = await ConnectAsync(h);
        var (c, _) = await ConnectAsync(h);
        Assert.Equal(2, await h.Stage.BroadcastAsync("news"u8.ToArray(), except: aId));
        Assert.Equal("news", Encoding.ASCII.GetString(await b.ReceiveExactlyAsync(4)));
        Assert.Equal("news", Encoding.ASCII.GetString(await c.ReceiveExactlyAsync(4)));
        await AssertNothingArrivesAsync(a);
        foreach (var x in new[] { a, b, c }) x.Dispose();
    }

    [Fact]
    public async Task Groups_route_to_members_list_both_ways_and_vanish_when_empty()
    {
        await using var h = new FerryTestServer(new TcpServerStageOptions { GroupNotices = true }.On(Transport));
        var notices = new System.Collections.Concurrent.ConcurrentQueue<GroupMembershipEvent>();
        h.Bus.Topic<StageEvent>(StageTopics.Events(h.Stage.Name)).Subscribe((e, _) =>
        {
            if (e is GroupMembershipEvent n)
                notices.Enqueue(n);
            return default;
        });
        await h.StartAsync();
        var (a, aId) = await ConnectAsync(h);
        var (b, bId) = await ConnectAsync(h);
        var (c, cId) = await ConnectAsync(h);

        Assert.True(h.Stage.JoinGroup(aId, "room"));
        await h.Bus.Topic<ControlCommand>(StageTopics.Control(h.Stage.Name)).PublishAsync(ControlCommand.Join(bId, "room"));
        Assert.True(h.Stage.JoinGroup(bId, "other"));
        Assert.Equal([aId, bId], h.Stage.GetGroupMembers("room").OrderBy(i => i.Sequence));
        Assert.Equal(["other", "room"], h.Stage.GetGroupsOf(bId).Order());

        Assert.Equal(1, await h.Stage.SendToGroupAsync("room", "hi room"u8.ToArray(), except: aId));
        await h.Bus.Topic<EgressMessage>(StageTopics.EgressPackets(h.Stage.Name)).PublishAsync(EgressMessage.ToGroup("room", "all of room"u8.ToArray()));
        Assert.Equal("all of room", Encoding.ASCII.GetString(await a.ReceiveExactlyAsync(11)));
        Assert.Equal("hi roomall of room", Encoding.ASCII.GetString(await b.ReceiveExactlyAsync(18)));
        await AssertNothingArrivesAsync(c);

        Assert.True(h.Stage.LeaveGroup(aId, "room"));
        Assert.False(h.Stage.LeaveGroup(aId, "room"));
        b.Dispose(); // closing leaves every group
        await h.WaitForDisconnectAsync(bId);
        Assert.Empty(h.Stage.GetGroupMembers("room"));
        Assert.Empty(h.Stage.GetGroups());
        Assert.Equal(0, await h.Stage.SendToGroupAsync("room", new byte[1]));

        Assert.Contains(notices, n => n.ConnectionId == aId && n.Group == "room" && n.Joined);
        Assert.Contains(notices, n => n.ConnectionId == aId && n.Group == "room" && !n.Joined);
        Assert.Contains(notices, n => n.ConnectionId == bId && n.Group == "other" && !n.Joined);
        _ = cId;
        a.Dispose();
        c.Dispose();
    }

    [Fact]
    public async Task The_kill_switch_closes_with_reason_and_code_and_bad_commands_are_reported()
    {
        await using var h = new FerryTestServer(new TcpServerStageOptions().On(Transport));
        using var events = h.Bus.Topic<StageEvent>(StageTopics.Events(h.Stage.Name)).SubscribeQueue(1000);
        await h.StartAsync();
        var (a, aId) = await ConnectAsync(h);
        var control = h.Bus.Topic<ControlCommand>(StageTopics.Control(h.Stage.Name));

        await control.PublishAsync(ControlCommand.Close(new ConnectionId(5, 5), "x"));
        await control.PublishAsync(ControlCommand.Join(aId, ""));
        await control.PublishAsync(new ControlCommand((ControlKind)42, aId));
        await control.PublishAsync(ControlCommand.Close(aId, "protocol_violation", "isomsg_pack_fail"));

        var closed = await h.WaitForDisconnectAsync(aId);
        Assert.Equal(DisconnectReason.Killed, closed.Reason);
        Assert.Equal("protocol_violation", closed.Detail);
        Assert.Equal("isomsg_pack_fail", closed.Code);
        Assert.True(await a.WaitClosedAsync());
        var errors = h.Events.OfType<StageErrorEvent>().Where(e => e.Kind == StageErrorKind.Control).Select(e => e.Message).ToList();
        Assert.Equal(3, errors.Count);
        Assert.Contains(errors, e => e.Contains("unknown connection"));
        Assert.Contains(errors, e => e.Contains("no group given"));
        Assert.Contains(errors, e => e.Contains("unknown command kind 42"));
        a.Dispose();
    }

    [Fact]
    public async Task The_kill_switch_first_writes_what_was_queued_for_the_connection()
    {
        // A codec's pattern (examples/CardGateway): answer the request before a bad one, then pull the kill
        // switch. Both come from the service thread here, in one loop round, so the answer is queued when
        // the close is taken; it must reach the client before the FIN, as FerryConnection.Close does.
        await using var h = new FerryTestServer(new TcpServerStageOptions().On(Transport));
        var control = h.Bus.Topic<ControlCommand>(StageTopics.Control(h.Stage.Name));
        var egress = h.Bus.Topic<EgressMessage>(StageTopics.EgressPackets(h.Stage.Name));
        h.Bus.Topic<PacketGroup>(StageTopics.PacketGroup(h.Stage.Name)).Subscribe(async (group, ct) =>
        {
            var id = group[0].ConnectionId;
            await egress.PublishAsync(EgressMessage.To(id, "answer;"u8.ToArray()), ct);
            Assert.True(await h.Stage.SendAsync(id, "E42 bad request"u8.ToArray(), cancellationToken: ct));
            await control.PublishAsync(ControlCommand.Close(id, "protocol_violation", "E42"), ct);
        });
        await h.StartAsync();
        var (a, aId) = await ConnectAsync(h);
        await a.SendAsync("bad");

        Assert.Equal("answer;E42 bad request", Encoding.ASCII.GetString(await a.ReceiveExactlyAsync(22)));
        Assert.True(await a.WaitClosedAsync());
        var closed = await h.WaitForDisconnectAsync(aId);
        Assert.Equal(DisconnectReason.Killed, closed.Reason);
        Assert.Equal("E42", closed.Code);
        Assert.Equal(0, h.Stage.GetStats().EgressBytesDroppedTotal);
        a.Dispose();
    }

    [Fact]
    public async Task Many_small_messages_for_one_client_are_gathered_into_few_writes()
    {
        await using var h = new FerryTestServer(new TcpServerStageOptions().On(Transport), recordPackets: false);
        var egress = h.Bus.Topic<EgressMessage>(StageTopics.EgressPackets(h.Stage.Name));
        // A handler on the service thread answers each packet with 500 small messages.
        h.Bus.Topic<PacketGroup>(StageTopics.PacketGroup(h.Stage.Name)).Subscribe(async (group, ct) =>
        {
            var id = group[0].ConnectionId;
            for (var i = 0; i < 500; i++)
                await egress.PublishAsync(EgressMessage.To(id, "0123456789"u8.ToArray()), ct);
        });
        await h.StartAsync();
        var (a, aId) = await ConnectAsync(h);
        await a.SendAsync("go");
        await a.ReceiveExactlyAsync(5000);
        var connection = h.Stage.Core.Table.Snapshot().Single(c => c.Id == aId);
        Assert.Equal(500, connection.PacketsOut);
        await Poll.UntilAsync(() => Volatile.Read(ref connection.SendCalls) >= 1, "the send to be counted");
        Assert.InRange(Volatile.Read(ref connection.SendCalls), 1, 3);
        a.Dispose();
    }

    [Fact]
    public async Task The_registry_lists_each_connection_with_its_figures()
    {
        await using var h = new FerryTestServer(new TcpServerStageOptions().On(Transport));
        await h.StartAsync();
        var (a, aId) = await ConnectAsync(h);
        await a.SendAsync("12345");
        await h.WaitForBytesFromAsync(aId, 5);
        Assert.True(await h.Stage.SendAsync(aId, "abc"u8.ToArray()));
        await a.ReceiveExactlyAsync(3);
        h.Stage.JoinGroup(aId, "g");
        await Poll.UntilAsync(() => h.Stage.GetConnections().Single().BytesOut == 3, "bytes out counted");
        var row = h.Stage.GetConnections().Single();
        Assert.Equal(aId, row.Id);
        Assert.Equal(a.LocalEndPoint.Port, row.Peer.Port);
        Assert.Equal(5, row.BytesIn);
        Assert.Equal(1, row.PacketsIn);
        Assert.Equal(1, row.PacketsOut);
        Assert.Equal(0, row.EgressBytesQueued);
        Assert.Equal(["g"], row.Groups);
        Assert.True(row.LastActivity >= row.ConnectedAt);
        a.Dispose();
    }
}
