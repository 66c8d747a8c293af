using Ferry.Connections;

namespace Ferry.Stages.Internal;

/// <summary>How the parts of a stage open and close connections: all of it goes through the stage engine.</summary>
internal interface IConnectionLifecycle
{
    /// <summary>Opens a connection to messages: egress may be routed to it, held messages are delivered, and it is announced. Service thread.</summary>
    void Establish(Connection c);

    /// <summary>Closes a connection now. Service thread only.</summary>
    void Close(Connection c, DisconnectReason reason, string? detail = null, string? code = null);

    /// <summary>Asks the service thread to close a connection; safe from any thread, including handlers on it.</summary>
    void RequestClose(Connection c, CloseRequest request);
}
