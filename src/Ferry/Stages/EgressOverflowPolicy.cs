namespace Ferry.Stages;

/// <summary>What a stage does with a message that does not fit in a slow client's egress buffer.</summary>
public enum EgressOverflowPolicy
{
    /// <summary>Drop the message for that client and count it (the default). Others are unaffected.</summary>
    Drop,
    /// <summary>Close the slow client with reason <c>slow_consumer</c>.</summary>
    Disconnect,
}
