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
/// Build one with <see cref="Close"/>, <see cref="Join"/> or <see cref="Leave"/>.
/// </summary>
/// <param name="Kind">What to do.</param>
/// <param name="Connection">The connection it applies to.</param>
/// <param name="Group">The group to join or leave; unused for <see cref="ControlKind.Close"/>.</param>
/// <param name="Reason">For <see cref="ControlKind.Close"/>: the detail of the disconnected event.</param>
/// <param name="Code">For <see cref="ControlKind.Close"/>: a caller-defined code carried by the disconnected event.</param>
public sealed record ControlCommand(ControlKind Kind, ConnectionId Connection, string? Group = null, string? Reason = null, string? Code = null)
{
    /// <summary>Close <paramref name="connection"/>; its disconnected event has reason <c>killed</c>, detail <paramref name="reason"/> and <paramref name="code"/>.
    /// What was queued for it before (an answer sent just before the kill) is written first, as far as its socket takes it at once.</summary>
    public static ControlCommand Close(ConnectionId connection, string? reason = null, string? code = null) => new(ControlKind.Close, connection, null, reason, code);

    /// <summary>Add <paramref name="connection"/> to <paramref name="group"/> (created on first join). A join beyond the stage's
    /// <c>max_groups_per_connection</c> or <c>max_group_name_length</c> is reported as a <see cref="StageErrorKind.Control"/> error
    /// naming the connection, the group and the limit, counted in <see cref="SocketStats.GroupJoinsRefusedTotal"/>, and ignored.</summary>
    public static ControlCommand Join(ConnectionId connection, string group) => new(ControlKind.Join, connection, group);

    /// <summary>Remove <paramref name="connection"/> from <paramref name="group"/>.</summary>
    public static ControlCommand Leave(ConnectionId connection, string group) => new(ControlKind.Leave, connection, group);
}
