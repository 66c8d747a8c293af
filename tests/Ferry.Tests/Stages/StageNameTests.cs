using Ferry.Bus;
using Ferry.Stages;

namespace Ferry.Tests.Stages;

/// <summary>
/// A stage's topics are named after it, so two stages of one name on one bus would share them. The second is refused
/// while the first holds the name: from its construction until it has stopped (or is disposed, never started).
/// </summary>
public sealed class StageNameTests
{
    private static TcpServerStageOptions Server(string? name = null) =>
        name is null ? new TcpServerStageOptions { Bind = "127.0.0.1:0" } : new TcpServerStageOptions { Name = name, Bind = "127.0.0.1:0" };

    [Fact]
    public async Task Two_stages_left_with_the_default_name_on_one_bus_are_an_error_never_a_merge()
    {
        var bus = new InProcessBus();
        await using var first = new TcpServerStage(Server(), bus);
        var error = Assert.Throws<InvalidOperationException>(() => new TcpServerStage(Server(), bus));
        Assert.Contains("a stage named 'tcp_server' already runs on this bus", error.Message);
        Assert.Contains("give this stage another Name", error.Message);
    }

    [Fact]
    public async Task A_refused_stage_leaves_the_first_ones_egress_alone()
    {
        // Before, the second stage subscribed to the first one's egress topic too: one egress message went to both.
        var bus = new InProcessBus();
        await using var first = new TcpServerStage(Server("front"), bus);
        Assert.Throws<InvalidOperationException>(() => new TcpServerStage(Server("front"), bus));
        Assert.Equal(1, SubscriberCount(bus, StageTopics.EgressPackets("front")));
    }

    [Fact]
    public async Task A_server_and_a_client_stage_of_one_name_are_refused_too()
    {
        var bus = new InProcessBus();
        await using var server = new TcpServerStage(Server("edge"), bus);
        Assert.Throws<InvalidOperationException>(() => new TcpClientStage(new TcpClientStageOptions { Name = "edge", Connect = "127.0.0.1:9" }, bus));
    }

    [Fact]
    public async Task Stages_of_one_name_on_different_buses_or_of_different_names_on_one_bus_are_fine()
    {
        var bus = new InProcessBus();
        await using var a = new TcpServerStage(Server("a"), bus);
        await using var b = new TcpServerStage(Server("b"), bus);
        await using var elsewhere = new TcpServerStage(Server("a"), new InProcessBus());
        await using var ownBus = new TcpServerStage(Server("a"));
    }

    [Fact]
    public async Task The_name_is_free_again_once_the_stage_has_stopped()
    {
        var bus = new InProcessBus();
        var first = new TcpServerStage(Server("front"), bus);
        await first.StartAsync();
        Assert.Throws<InvalidOperationException>(() => new TcpServerStage(Server("front"), bus));
        await first.StopAsync();
        await using var second = new TcpServerStage(Server("front"), bus);
        await second.StartAsync();
        Assert.Equal(1, SubscriberCount(bus, StageTopics.EgressPackets("front")));
        await first.DisposeAsync();
    }

    [Fact]
    public async Task A_stage_that_never_started_gives_its_name_and_its_topics_back_when_disposed()
    {
        var bus = new InProcessBus();
        var first = new TcpServerStage(Server("front"), bus);
        await first.DisposeAsync();
        // Before, a never started stage stayed subscribed to its egress and control topics after its disposal.
        Assert.Equal(0, SubscriberCount(bus, StageTopics.EgressPackets("front")));
        Assert.Equal(0, bus.Topic<ControlCommand>(StageTopics.Control("front")).SubscriberCount);
        await using var second = new TcpServerStage(Server("front"), bus);
    }

    /// <summary>How many subscribers the topic has: each stage subscribed to it would route the same message.</summary>
    private static int SubscriberCount(InProcessBus bus, string topic) => bus.Topic<EgressMessage>(topic).SubscriberCount;
}
