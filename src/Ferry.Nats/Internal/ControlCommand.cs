using Ferry.Connections;

namespace Ferry.Nats.Internal;

/// <summary>What a control command asks for.</summary>
internal enum ControlVerb
{
    /// <summary><c>conn.close</c>: the kill switch.</summary>
    Close,

    /// <summary><c>group.join</c>.</summary>
    Join,

    /// <summary><c>group.leave</c>.</summary>
    Leave,
}

/// <summary>
/// One control command, parsed and checked (<see cref="ControlCommandParser"/>): the connection it is for, and for a
/// <c>conn.close</c> its reason and code, for a group command its group (never blank).
/// </summary>
internal sealed record ControlCommand(ControlVerb Verb, ConnectionId Connection, string? Group, string? Reason, string? Code)
{
    /// <summary>The command's name as sent: <c>conn.close</c>, <c>group.join</c> or <c>group.leave</c>.</summary>
    public string Name => ControlCommandParser.NameOf(Verb);
}
