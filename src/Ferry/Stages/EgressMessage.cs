using Ferry.Connections;
using Ferry.Framing;

namespace Ferry.Stages;

/// <summary>Who an egress message goes to.</summary>
public enum EgressTargetKind
{
    /// <summary>Every connected client, optionally except one.</summary>
    All,
    /// <summary>One connection, by id.</summary>
    Connection,
    /// <summary>Every member of a named group.</summary>
    Group,
    /// <summary>
    /// Exactly one connection, the next in turn that has room: load balancing across workers, as a
    /// ZeroMQ PUSH socket does. Full connections are passed over; when every one is full the overflow
    /// policy applies once (drop, disconnect the one whose turn it was, or wait for the first with room).
    /// </summary>
    Any,
}

/// <summary>
/// Bytes going out through a stage, published on <c>&lt;stage&gt;/egress_packets</c>: the target,
/// the payload, and header fields for framings that have them. The stage encodes the payload with
/// its framing and copies it into each target's egress buffer before publishing completes, so the
/// publisher may reuse the payload's memory afterwards.
/// </summary>
/// <param name="Target">Who the message goes to.</param>
/// <param name="Payload">The bytes to send, before framing.</param>
/// <param name="Fields">Header fields for framings that carry them (<see cref="Ferry.Framing.IFraming.HeaderFields"/>).</param>
/// <param name="Connection">For <see cref="EgressTargetKind.Connection"/>: the target connection.</param>
/// <param name="Group">For <see cref="EgressTargetKind.Group"/>: the target group.</param>
/// <param name="Except">For <see cref="EgressTargetKind.All"/> and <see cref="EgressTargetKind.Group"/>: a connection to leave out (the sender); <see cref="ConnectionId.None"/> for none.</param>
public readonly record struct EgressMessage(
    EgressTargetKind Target,
    ReadOnlyMemory<byte> Payload,
    FrameFields Fields = default,
    ConnectionId Connection = default,
    string? Group = null,
    ConnectionId Except = default)
{
    /// <summary>To every connected client except <paramref name="except"/>.</summary>
    public static EgressMessage ToAll(ReadOnlyMemory<byte> payload, FrameFields fields = default, ConnectionId except = default)
        => new(EgressTargetKind.All, payload, fields, Except: except);

    /// <summary>To one connection.</summary>
    public static EgressMessage To(ConnectionId connection, ReadOnlyMemory<byte> payload, FrameFields fields = default)
        => new(EgressTargetKind.Connection, payload, fields, Connection: connection);

    /// <summary>To exactly one connection, round-robin among those with room (see <see cref="EgressTargetKind.Any"/>).</summary>
    public static EgressMessage ToAny(ReadOnlyMemory<byte> payload, FrameFields fields = default)
        => new(EgressTargetKind.Any, payload, fields);

    /// <summary>To every member of <paramref name="group"/> except <paramref name="except"/>.</summary>
    /// <exception cref="ArgumentNullException"><paramref name="group"/> is null.</exception>
    /// <exception cref="ArgumentException"><paramref name="group"/> is empty or white space (a name no group can have).</exception>
    public static EgressMessage ToGroup(string group, ReadOnlyMemory<byte> payload, FrameFields fields = default, ConnectionId except = default)
    {
        // Refused here, where the caller's mistake is, rather than routed to nobody when the message is sent.
        Internal.GroupRegistry.ValidateName(group);
        return new(EgressTargetKind.Group, payload, fields, Group: group, Except: except);
    }
}
