namespace Ferry.Bus;

/// <summary>
/// Where stages publish and subscribe. Topics are named (<c>&lt;stage&gt;/packet_group</c>) and typed;
/// the in-process bus is the default, a broker-backed bus can take its place.
/// </summary>
public interface IMessageBus
{
    /// <summary>Gets or creates the topic. A name is bound to one message type for the bus's life.</summary>
    ITopic<T> Topic<T>(string name);
}
