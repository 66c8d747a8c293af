namespace Ferry.Connections;

/// <summary>Facts about the connection ids this process hands out.</summary>
public static class ConnectionIds
{
    /// <summary>
    /// The instance part shared by every <see cref="ConnectionId"/> of this process (the <c>iiiiiiii</c> in
    /// <c>iiiiiiii-n</c>). A broker gateway uses it to name a subject only this process listens on, so a
    /// reply for a connection reaches the process that holds it.
    /// </summary>
    public static uint ProcessInstance => ConnectionId.ProcessInstance;
}
