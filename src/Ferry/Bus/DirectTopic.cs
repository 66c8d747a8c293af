namespace Ferry.Bus;

/// <summary>
/// Gets a topic without a generic virtual call when the bus is the in-process one. <see cref="IMessageBus.Topic{T}"/>
/// is a generic virtual method: in the native (AOT) binary the first call for each message type is resolved at run
/// time by the runtime's type loader, which builds the method's generic dictionary from templates. Every stage makes
/// five such calls while it is constructed, so that cost and the type loader's code sat on the start-up path of
/// every command. A call on the sealed <see cref="InProcessBus"/> is an ordinary call the compiler resolves ahead
/// of time; any other bus still gets the virtual call. <see cref="InProcessBus"/> implements the interface explicitly,
/// so its <see cref="InProcessBus.Topic{T}"/> is a plain method, not a virtual one that the compiler would have to
/// devirtualise.
/// </summary>
internal static class DirectTopic
{
    /// <summary>The topic <paramref name="name"/> of <paramref name="bus"/>, as <see cref="IMessageBus.Topic{T}"/> returns it.</summary>
    public static ITopic<T> Of<T>(IMessageBus bus, string name) => bus is InProcessBus inProcess ? inProcess.Topic<T>(name) : bus.Topic<T>(name);
}
