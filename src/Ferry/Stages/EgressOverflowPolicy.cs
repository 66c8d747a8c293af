namespace Ferry.Stages;

/// <summary>What a stage does with a message that does not fit in a slow client's egress buffer.</summary>
public enum EgressOverflowPolicy
{
    /// <summary>Drop the message for that client and count it (the default). Others are unaffected.</summary>
    Drop,
    /// <summary>
    /// Close the slow client with reason <c>slow_consumer</c> (the message is dropped and counted). A message
    /// larger than the whole buffer is only dropped and counted: it would not fit any client, slow or not.
    /// </summary>
    Disconnect,
    /// <summary>
    /// Hold the publisher until the client has room, up to <c>egress_wait_timeout</c> (then drop and
    /// count): backpressure from a slow client to the bus. A message to several clients (a group, everyone)
    /// goes to every one with room first; only then is the publisher held for the full ones. A message
    /// larger than the whole buffer is taken once the buffer is empty.
    /// </summary>
    Wait,
}
