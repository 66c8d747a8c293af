using Ferry.Connections;
using Ferry.Stages;
using Ferry.Tests.Support;

namespace Ferry.Tests.ApiReview;

/// <summary>
/// Every public member that takes a group name checks it first, naming the public parameter: null is
/// <see cref="ArgumentNullException"/>, an empty or white-space name (which a join refuses, so no group has it) <see cref="ArgumentException"/>.
/// </summary>
public sealed class GroupNameArgumentTests
{
    private static readonly byte[] Payload = "x"u8.ToArray();

    [Fact]
    public async Task Group_names_are_checked_with_the_public_parameters_name_by_every_member()
    {
        await using var h = new FerryTestServer(new TcpServerStageOptions(), recordPackets: false);
        await h.StartAsync();
        await using var client = await h.ConnectAsync();
        var id = (await h.WaitForConnectionAsync(client)).ConnectionId;
        var stage = h.Stage;

        // Before: ArgumentNullException naming 'key', the dictionary's parameter.
        Assert.Equal("group", Assert.Throws<ArgumentNullException>(() => stage.GetGroupMembers(null!)).ParamName);
        // Before: ArgumentException, as for an empty name.
        Assert.Equal("group", Assert.Throws<ArgumentNullException>(() => stage.JoinGroup(id, null!)).ParamName);
        Assert.Equal("group", Assert.Throws<ArgumentNullException>(() => stage.LeaveGroup(id, null!)).ParamName);
        // Before: completed with 0, as for a group nobody is in.
        Assert.Equal("group", Assert.Throws<ArgumentNullException>(() => { _ = stage.SendToGroupAsync(null!, Payload); }).ParamName);
        Assert.Equal("group", Assert.Throws<ArgumentNullException>(() => EgressMessage.ToGroup(null!, Payload)).ParamName);

        foreach (var blank in new[] { "", "  " })
        {
            var join = Assert.Throws<ArgumentException>(() => stage.JoinGroup(id, blank));
            Assert.Equal("group", join.ParamName);
            // Before: "must not be empty" for "  " too.
            Assert.StartsWith(blank.Length == 0 ? "a group name must not be empty" : "a group name must not be white space alone", join.Message);
            Assert.Equal("group", Assert.Throws<ArgumentException>(() => stage.LeaveGroup(id, blank)).ParamName);
            Assert.Equal("group", Assert.Throws<ArgumentException>(() => stage.GetGroupMembers(blank)).ParamName);
            Assert.Equal("group", Assert.Throws<ArgumentException>(() => { _ = stage.SendToGroupAsync(blank, Payload); }).ParamName);
            Assert.Equal("group", Assert.Throws<ArgumentException>(() => EgressMessage.ToGroup(blank, Payload)).ParamName);
            // A message built by hand, not by ToGroup, is checked as the send's argument.
            var message = new EgressMessage(EgressTargetKind.Group, Payload, Group: blank);
            Assert.Equal("message", Assert.Throws<ArgumentException>(() => { _ = stage.SendWithOutcomeAsync(message); }).ParamName);
        }
        Assert.Equal("message", Assert.Throws<ArgumentException>(() => { _ = stage.SendWithOutcomeAsync(new EgressMessage(EgressTargetKind.Group, Payload)); }).ParamName);
        // On the bus nobody can be thrown at: the stage says it with an Error event (before: dropped without a word).
        await h.Bus.Topic<EgressMessage>(StageTopics.EgressPackets(stage.Name)).PublishAsync(new EgressMessage(EgressTargetKind.Group, Payload));
        var said = await h.WaitForEventAsync<StageErrorEvent>(e => e.Kind == StageErrorKind.Egress);
        Assert.Equal("an egress message to a group needs the group's name; Group is null: the message is dropped (EgressMessage.ToGroup builds one with its name)", said.Message);

        // Refused arguments changed nothing, and a real name works as before.
        Assert.Empty(stage.GetGroups());
        Assert.True(stage.JoinGroup(id, "room"));
        Assert.Equal([id], stage.GetGroupMembers("room"));
        Assert.Equal(1, await stage.SendToGroupAsync("room", Payload));
        Assert.Equal(0, stage.GetStats().GroupJoinsRefusedTotal);
    }
}
