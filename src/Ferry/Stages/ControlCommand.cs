using Ferry.Connections;

namespace Ferry.Stages;

/// <summary>What a control command asks a stage to do.</summary>
public enum ControlKind
{
    /// <summary>Close a connection (the kill switch), with a reason and code for its disconnected event.</summary>
    Close,
    /// <summary>Add a connection to a named group.</summary>
    Join,
    /// <summary>Remove a connection from a named group.</summary>
    Leave,
}

/// <summary>
/// A command published on <c>&lt;stage&gt;/control</c>. Any component of the pipeline can use it
/// without owning the socket, e.g. a codec that found a protocol violation closes the connection.
/// Invalid commands are reported as <see cref="StageErrorKind.Control"/> errors and ignored.
/// </summary>
public sealed record ControlCommand(ControlKind Kind, ConnectionId Connection, string? Group = null, string? Reason = null, string? Code = null)
{
    public static ControlCommand Close(ConnectionId connection, string? reason = null, string? code = null) => new(ControlKind.Close, connection, null, reason, code);

    public static ControlCommand Join(ConnectionId connection, string group) => new(ControlKind.Join, connection, group);

    public static ControlCommand Leave(ConnectionId connection, string group) => new(ControlKind.Leave, connection, group);
}
