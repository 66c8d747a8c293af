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
}

/// <summary>
/// Bytes going out through a stage, published on <c>&lt;stage&gt;/egress_packets</c>: the target,
/// the payload, and header fields for framings that have them. The stage encodes the payload with
/// its framing and copies it into each target's egress buffer before publishing completes.
/// </summary>
public readonly record struct EgressMessage(
    EgressTargetKind Target,
    ReadOnlyMemory<byte> Payload,
    FrameFields Fields = default,
    ConnectionId Connection = default,
    string? Group = null,
    ConnectionId Except = default)
{
    public static EgressMessage ToAll(ReadOnlyMemory<byte> payload, FrameFields fields = default, ConnectionId except = default)
        => new(EgressTargetKind.All, payload, fields, Except: except);

    public static EgressMessage To(ConnectionId connection, ReadOnlyMemory<byte> payload, FrameFields fields = default)
        => new(EgressTargetKind.Connection, payload, fields, Connection: connection);

    public static EgressMessage ToGroup(string group, ReadOnlyMemory<byte> payload, FrameFields fields = default, ConnectionId except = default)
        => new(EgressTargetKind.Group, payload, fields, Group: group, Except: except);
}
