using Ferry.Bus;

namespace Ferry.Tests.ApiReview;

/// <summary>
/// Disposing a subscription detaches that subscription only. Delegates compare by value (the same method on the same
/// target), and the topic used to remove every handler equal to the disposed one: a method subscribed twice (two parts of
/// one object, a re-subscription after a reconnect) lost both subscriptions to one dispose, and missed every message after
/// it without a word.
/// </summary>
public sealed class SubscriptionIdentityTests
{
    private readonly List<string> _seen = [];

    private ValueTask Record(string message, CancellationToken cancellationToken)
    {
        _seen.Add(message);
        return default;
    }

    [Fact]
    public async Task Disposing_one_of_two_subscriptions_of_the_same_method_leaves_the_other_attached()
    {
        var topic = new InProcessBus().Topic<string>("t");
        var first = topic.Subscribe(Record);
        using var second = topic.Subscribe(Record);

        first.Dispose();
        await topic.PublishAsync("after");

        Assert.Equal(1, topic.SubscriberCount);
        Assert.Equal(["after"], _seen);
    }

    [Fact]
    public async Task One_handler_instance_subscribed_twice_is_detached_once_per_dispose()
    {
        var topic = new InProcessBus().Topic<string>("t");
        MessageHandler<string> handler = Record;
        var first = topic.Subscribe(handler);
        var second = topic.Subscribe(handler);

        first.Dispose();
        first.Dispose();   // a second dispose of the same subscription takes nothing more
        await topic.PublishAsync("one");
        second.Dispose();
        await topic.PublishAsync("none");

        Assert.Equal(["one"], _seen);
        Assert.Equal(0, topic.SubscriberCount);
    }

    [Fact]
    public async Task The_handlers_left_keep_their_order()
    {
        var topic = new InProcessBus().Topic<string>("t");
        var order = new List<string>();
        using var a = topic.Subscribe((m, _) => { order.Add("a"); return default; });
        var b = topic.Subscribe(Record);
        using var c = topic.Subscribe((m, _) => { order.Add("c"); return default; });
        using var d = topic.Subscribe(Record);

        b.Dispose();
        await topic.PublishAsync("m");

        Assert.Equal(["a", "c"], order);
        Assert.Equal(["m"], _seen);
        Assert.Equal(3, topic.SubscriberCount);
    }
}
