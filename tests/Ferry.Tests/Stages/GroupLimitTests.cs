using System.Collections.Concurrent;
using System.Text;
using Ferry.Bus;
using Ferry.Connections;
using Ferry.Framing;
using Ferry.Stages;
using Ferry.Tests.Support;

namespace Ferry.Tests.Stages;

/// <summary>
/// The bounds on named groups (<c>max_groups_per_connection</c>, <c>max_group_name_length</c>) through each way a join
/// comes in: the stage's API, a connection handler, and the control topic, on both kinds of stage. A refused join
/// changes nothing (no membership, no group, no notice), is counted, and leaves its connection and the others serving.
/// </summary>
public sealed class GroupLimitTests
{
    private static async Task<(FramedTestClient Client, ConnectionId Id)> ConnectAsync(FerryTestServer h)
    {
        var client = await h.ConnectAsync();
        return (client, (await h.WaitForConnectionAsync(client.LocalEndPoint)).ConnectionId);
    }

    private static string Cap(ConnectionId id, string group, int groups, int limit)
        => $"connection {id} cannot join group '{group}': it is in {groups} {(groups == 1 ? "group" : "groups")}, the most max_groups_per_connection ({limit}) allows; "
            + "leave a group first, or raise max_groups_per_connection (0 = unlimited)";

    private static string TooLong(ConnectionId id, string quoted, int length, int limit)
        => $"connection {id} cannot join group {quoted}: the name is {length} characters long, and max_group_name_length allows at most {limit}; "
            + "use a shorter name, or raise max_group_name_length (1 to 65536)";

    [Fact]
    public async Task A_join_over_the_cap_is_refused_naming_the_connection_group_and_option_and_changes_nothing()
    {
        await using var h = new FerryTestServer(new TcpServerStageOptions { MaxGroupsPerConnection = 3, GroupNotices = true });
        var notices = new ConcurrentQueue<GroupMembershipEvent>();
        h.Stage.JoinedGroup += (_, e) => notices.Enqueue(e);
        await h.StartAsync();
        var (a, aId) = await ConnectAsync(h);
        var (b, bId) = await ConnectAsync(h);
        foreach (var group in new[] { "one", "two", "three" })
            Assert.True(h.Stage.JoinGroup(aId, group));

        var refused = Assert.Throws<InvalidOperationException>(() => h.Stage.JoinGroup(aId, "four"));
        Assert.Equal(Cap(aId, "four", 3, 3), refused.Message);

        // Nothing of the refused join is left: no membership, no (empty) group, no notice; it is counted.
        Assert.Equal(["one", "three", "two"], h.Stage.GetGroupsOf(aId).Order());
        Assert.DoesNotContain("four", h.Stage.GetGroups());
        Assert.Equal(3, notices.Count);
        Assert.Equal(1, h.Stage.GetStats().GroupJoinsRefusedTotal);
        // A group it is in already is no new membership: taken at the cap, and not counted.
        Assert.True(h.Stage.JoinGroup(aId, "two"));
        Assert.Equal(1, h.Stage.GetStats().GroupJoinsRefusedTotal);

        // The connection and the others go on: a's groups still route to it, b joins the group a could not.
        Assert.Equal(1, await h.Stage.SendToGroupAsync("one", "still here"u8.ToArray()));
        Assert.Equal("still here", Encoding.ASCII.GetString(await a.ReceiveExactlyAsync(10)));
        Assert.True(h.Stage.JoinGroup(bId, "four"));
        Assert.Equal([bId], h.Stage.GetGroupMembers("four"));
        // Room again after a leave.
        Assert.True(h.Stage.LeaveGroup(aId, "one"));
        Assert.True(h.Stage.JoinGroup(aId, "four"));
        Assert.Equal(2, h.Stage.GetGroupMembers("four").Count);
        a.Dispose();
        b.Dispose();
    }

    [Fact]
    public async Task The_default_cap_is_1024_groups_and_0_means_unlimited()
    {
        await using var h = new FerryTestServer();
        await h.StartAsync();
        var (a, aId) = await ConnectAsync(h);
        for (var i = 0; i < 1024; i++)
            Assert.True(h.Stage.JoinGroup(aId, $"g{i}"));
        var refused = Assert.Throws<InvalidOperationException>(() => h.Stage.JoinGroup(aId, "g1024"));
        Assert.Equal(Cap(aId, "g1024", 1024, 1024), refused.Message);
        Assert.Equal(1024, h.Stage.GetGroupsOf(aId).Count);
        a.Dispose();

        await using var unlimited = new FerryTestServer(new TcpServerStageOptions { MaxGroupsPerConnection = 0 });
        await unlimited.StartAsync();
        var (b, bId) = await ConnectAsync(unlimited);
        for (var i = 0; i < 1100; i++)
            Assert.True(unlimited.Stage.JoinGroup(bId, $"g{i}"));
        Assert.Equal(1100, unlimited.Stage.GetGroupsOf(bId).Count);
        b.Dispose();
    }

    [Fact]
    public async Task A_name_over_the_length_limit_is_refused_before_anything_changes_and_the_error_quotes_it_cut_short()
    {
        await using var h = new FerryTestServer(new TcpServerStageOptions { MaxGroupNameLength = 8 });
        await h.StartAsync();
        var (a, aId) = await ConnectAsync(h);
        Assert.True(h.Stage.JoinGroup(aId, "12345678"));
        var refused = Assert.Throws<ArgumentException>(() => h.Stage.JoinGroup(aId, "123456789"));
        Assert.Equal("group", refused.ParamName);
        Assert.Equal(TooLong(aId, "'123456789'", 9, 8) + " (Parameter 'group')", refused.Message);
        Assert.Equal(["12345678"], h.Stage.GetGroupsOf(aId));
        Assert.Equal(["12345678"], h.Stage.GetGroups());
        Assert.Equal(1, h.Stage.GetStats().GroupJoinsRefusedTotal);
        a.Dispose();

        // The default: 256 characters (UTF-16 code units) pass, 257 do not; a long name is quoted cut after 64.
        await using var byDefault = new FerryTestServer();
        await byDefault.StartAsync();
        var (b, bId) = await ConnectAsync(byDefault);
        Assert.True(byDefault.Stage.JoinGroup(bId, new string('r', 256)));
        refused = Assert.Throws<ArgumentException>(() => byDefault.Stage.JoinGroup(bId, new string('r', 257)));
        Assert.StartsWith(TooLong(bId, $"'{new string('r', 64)}…'", 257, 256), refused.Message);
        Assert.Single(byDefault.Stage.GetGroups());
        b.Dispose();
    }

    [Fact]
    public async Task A_handler_is_refused_by_an_exception_it_can_answer_and_its_connection_goes_on()
    {
        await using var h = new FerryTestServer(new TcpServerStageOptions { Framing = FramingSpec.Parse("lines"), MaxGroupsPerConnection = 1, MaxGroupNameLength = 10 },
            recordPackets: false);
        h.Stage.MapConnections(async (connection, ct) =>
        {
            await foreach (var message in connection.ReadAsync(ct))
            {
                string answer;
                try
                {
                    answer = connection.JoinGroup(Encoding.UTF8.GetString(message.Payload.Span)) ? "joined" : "closed";
                }
                catch (Exception ex) when (ex is InvalidOperationException or ArgumentException)
                {
                    answer = ex.GetType().Name;
                }
                await connection.SendAsync(Encoding.UTF8.GetBytes($"{answer} {string.Join(',', connection.Groups)}"), cancellationToken: ct);
            }
        });
        await h.StartAsync();
        var (client, id) = await ConnectAsync(h);
        async Task<string> AskAsync(string line, string expected)
        {
            await client.SendAsync(line + "\n");
            return Encoding.UTF8.GetString(await client.ReceiveExactlyAsync(expected.Length + 1));
        }
        Assert.Equal("joined lobby\n", await AskAsync("lobby", "joined lobby"));
        Assert.Equal("InvalidOperationException lobby\n", await AskAsync("games", "InvalidOperationException lobby"));
        Assert.Equal("ArgumentException lobby\n", await AskAsync("a-very-long-room", "ArgumentException lobby"));
        Assert.Equal("joined lobby\n", await AskAsync("lobby", "joined lobby"));
        Assert.Equal(["lobby"], h.Stage.GetGroups());
        Assert.Equal(2, h.Stage.GetStats().GroupJoinsRefusedTotal);
        Assert.Single(h.Stage.GetConnections(), c => c.Id == id);
        client.Dispose();
    }

    [Fact]
    public async Task A_control_command_over_a_limit_is_an_error_event_and_ignored_and_the_publisher_is_not_failed()
    {
        await using var h = new FerryTestServer(new TcpServerStageOptions { MaxGroupsPerConnection = 1, MaxGroupNameLength = 5 });
        await h.StartAsync();
        var (a, aId) = await ConnectAsync(h);
        var control = h.Bus.Topic<ControlCommand>(StageTopics.Control(h.Stage.Name));

        await control.PublishAsync(ControlCommand.Join(aId, "ops"));
        await control.PublishAsync(ControlCommand.Join(aId, "dev"));
        await control.PublishAsync(ControlCommand.Join(aId, "toolong"));

        var errors = h.Events.OfType<StageErrorEvent>().Where(e => e.Kind == StageErrorKind.Control).ToList();
        Assert.Equal(
        [
            $"control join: {Cap(aId, "dev", 1, 1)}; ignored",
            $"control join: {TooLong(aId, "'toolong'", 7, 5)}; ignored",
        ], errors.Select(e => e.Message));
        Assert.All(errors, e => Assert.Equal(aId, e.ConnectionId));
        Assert.Equal(["ops"], h.Stage.GetGroupsOf(aId));
        Assert.Equal(["ops"], h.Stage.GetGroups());
        Assert.Equal(2, h.Stage.GetStats().GroupJoinsRefusedTotal);
        Assert.True(await h.Stage.SendAsync(aId, "ok"u8.ToArray()));
        Assert.Equal("ok", Encoding.ASCII.GetString(await a.ReceiveExactlyAsync(2)));
        a.Dispose();
    }

    [Fact]
    public async Task A_client_stage_bounds_its_groups_too()
    {
        await using var server = new FerryTestServer();
        await server.StartAsync();
        await using var client = new TcpClientStage(new TcpClientStageOptions
        {
            Connect = server.EndPoint.ToString(),
            MaxGroupsPerConnection = 1,
            MaxGroupNameLength = 5,
        });
        var connected = new TaskCompletionSource<ConnectionId>(TaskCreationOptions.RunContinuationsAsynchronously);
        var errors = new ConcurrentQueue<StageErrorEvent>();
        client.Connected += (_, e) => connected.TrySetResult(e.ConnectionId);
        client.Error += (_, e) => errors.Enqueue(e);
        await client.ConnectAsync(new CancellationTokenSource(TimeSpan.FromSeconds(10)).Token);
        var id = await connected.Task.WaitAsync(TimeSpan.FromSeconds(10));
        var control = client.Bus.Topic<ControlCommand>(StageTopics.Control(client.Name));

        await control.PublishAsync(ControlCommand.Join(id, "up"));
        await control.PublishAsync(ControlCommand.Join(id, "down"));
        await control.PublishAsync(ControlCommand.Join(id, "sideways"));

        Assert.Equal(
        [
            $"control join: {Cap(id, "down", 1, 1)}; ignored",
            $"control join: {TooLong(id, "'sideways'", 8, 5)}; ignored",
        ], errors.Where(e => e.Kind == StageErrorKind.Control).Select(e => e.Message));
        Assert.Equal(2, client.GetStats().GroupJoinsRefusedTotal);
        await client.Bus.Topic<EgressMessage>(StageTopics.EgressPackets(client.Name)).PublishAsync(EgressMessage.ToGroup("up", "to up"u8.ToArray()));
        var packets = await server.WaitForPacketsAsync(p => p.Count == 1, "the message to the client's one group");
        Assert.Equal("to up", Encoding.ASCII.GetString(packets[0].Payload));
    }

    [Theory]
    [InlineData(-1, 256, "MaxGroupsPerConnection: -1 is not allowed; must be 0 (unlimited) or more")]
    [InlineData(1024, 0, "MaxGroupNameLength: 0 is not allowed; must be from 1 to 65536 characters")]
    [InlineData(1024, 65537, "MaxGroupNameLength: 65537 is not allowed; must be from 1 to 65536 characters")]
    public void Limits_out_of_range_are_refused_naming_the_option_the_value_and_what_is_allowed(int maxGroups, int maxNameLength, string expected)
    {
        var server = Assert.Throws<StageOptionsException>(() => new TcpServerStageOptions { MaxGroupsPerConnection = maxGroups, MaxGroupNameLength = maxNameLength }.Validate());
        Assert.Equal([$"TcpServerStageOptions.{expected}"], server.Problems);
        var client = Assert.Throws<StageOptionsException>(() => new TcpClientStageOptions { MaxGroupsPerConnection = maxGroups, MaxGroupNameLength = maxNameLength }.Validate());
        Assert.Equal([$"TcpClientStageOptions.{expected}"], client.Problems);
    }

    [Fact]
    public void The_defaults_and_the_ends_of_the_ranges_are_valid()
    {
        Assert.Equal(1024, new TcpServerStageOptions().MaxGroupsPerConnection);
        Assert.Equal(256, new TcpServerStageOptions().MaxGroupNameLength);
        Assert.Equal(1024, new TcpClientStageOptions().MaxGroupsPerConnection);
        Assert.Equal(256, new TcpClientStageOptions().MaxGroupNameLength);
        new TcpServerStageOptions { MaxGroupsPerConnection = 0, MaxGroupNameLength = 1 }.Validate();
        new TcpClientStageOptions { MaxGroupsPerConnection = int.MaxValue, MaxGroupNameLength = 65536 }.Validate();
    }
}
