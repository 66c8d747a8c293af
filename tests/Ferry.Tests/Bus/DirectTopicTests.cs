using Ferry.Bus;

namespace Ferry.Tests.Bus;

/// <summary>
/// The in-process bus answers the same topic whether asked through <see cref="IMessageBus"/> (the explicit
/// implementation), directly, or through <c>DirectTopic</c>; and a name keeps its message type on every path.
/// </summary>
public sealed class DirectTopicTests
{
    [Fact]
    public void Every_path_returns_the_same_topic()
    {
        var bus = new InProcessBus();
        IMessageBus viaInterface = bus;
        var direct = bus.Topic<string>("a.b");
        Assert.Same(direct, viaInterface.Topic<string>("a.b"));
        Assert.Same(direct, DirectTopic.Of<string>(bus, "a.b"));
        Assert.Same(direct, DirectTopic.Of<string>(viaInterface, "a.b"));
    }

    [Fact]
    public void A_name_bound_to_one_type_is_refused_for_another_on_every_path()
    {
        var bus = new InProcessBus();
        IMessageBus viaInterface = bus;
        bus.Topic<string>("a.b");
        var direct = Assert.Throws<InvalidOperationException>(() => bus.Topic<int[]>("a.b"));
        Assert.Equal("topic 'a.b' carries String, not Int32[]", direct.Message);
        Assert.Equal(direct.Message, Assert.Throws<InvalidOperationException>(() => viaInterface.Topic<int[]>("a.b")).Message);
        Assert.Equal(direct.Message, Assert.Throws<InvalidOperationException>(() => DirectTopic.Of<int[]>(bus, "a.b")).Message);
        Assert.Throws<ArgumentException>(() => viaInterface.Topic<string>(" "));
        // Generic types by their arguments: "List`1, not List`1" said nothing.
        bus.Topic<List<int>>("l");
        Assert.Equal("topic 'l' carries List<Int32>, not List<String>", Assert.Throws<InvalidOperationException>(() => bus.Topic<List<string>>("l")).Message);
        bus.Topic<Dictionary<string, int?[]>>("d");
        Assert.Equal("topic 'd' carries Dictionary<String, Int32?[]>, not Int32[,]", Assert.Throws<InvalidOperationException>(() => bus.Topic<int[,]>("d")).Message);
    }

    [Fact]
    public void Another_bus_gets_the_interface_call()
    {
        var inner = new InProcessBus();
        var counting = new CountingBus(inner);
        Assert.Same(inner.Topic<string>("x"), DirectTopic.Of<string>(counting, "x"));
        Assert.Equal(1, counting.Calls);
    }

    private sealed class CountingBus(IMessageBus inner) : IMessageBus
    {
        public int Calls { get; private set; }

        public ITopic<T> Topic<T>(string name)
        {
            Calls++;
            return inner.Topic<T>(name);
        }
    }
}
