namespace Ferry.Stages;

/// <summary>What a stage does with a message that does not fit in a slow client's egress buffer.</summary>
public enum EgressOverflowPolicy
{
    /// <summary>Drop the message for that client and count it (the default). Others are unaffected.</summary>
    Drop,
    /// <summary>Close the slow client with reason <c>slow_consumer</c>.</summary>
    Disconnect,
    /// <summary>
    /// Hold the publisher until the client has room, up to <c>egress_wait_timeout</c> (then drop and
    /// count): backpressure from a slow client to the bus. While a publisher waits for one client, the
    /// message is not yet delivered to the clients after it.
    /// </summary>
    Wait,
}
