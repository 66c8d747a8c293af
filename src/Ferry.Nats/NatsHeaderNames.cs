namespace Ferry.Nats;

/// <summary>The NATS header names a <see cref="NatsGateway"/> writes on ingress and reads on egress (docs/nats.md).</summary>
public static class NatsHeaderNames
{
    /// <summary>The connection id, <c>iiiiiiii-n</c>: on every ingress packet; on egress, the one connection to write to.</summary>
    public const string ConnectionId = "conn.id";

    /// <summary>The peer's IP address (ingress).</summary>
    public const string PeerIp = "peer.ip";

    /// <summary>The peer's port (ingress).</summary>
    public const string PeerPort = "peer.port";

    /// <summary>When the packet was received, UTC, ISO 8601 with 100 ns digits, e.g. <c>2026-11-29T03:39:57.1234567Z</c> (ingress).</summary>
    public const string ReceivedAt = "recv.time";

    /// <summary>The <c>header</c> framing's message type (ingress and egress).</summary>
    public const string MessageType = "msg.type";

    /// <summary>The <c>header</c> framing's flags, or the Rogue frame's flags with <c>zmtp</c> (ingress and egress).</summary>
    public const string Flags = "flags";

    /// <summary>The <c>mux</c> framing's stream id (ingress and egress).</summary>
    public const string StreamId = "stream.id";

    /// <summary>The Rogue frame's channel with <c>zmtp</c> (ingress and egress).</summary>
    public const string Channel = "channel";

    /// <summary>The Rogue frame's error with <c>zmtp</c> (ingress and egress).</summary>
    public const string Error = "error";

    /// <summary>Egress: a group of connections to write to.</summary>
    public const string Group = "group";

    /// <summary>Egress: <c>all</c> (the default without <c>conn.id</c> or <c>group</c>) or <c>any</c> (one connection, in turn).</summary>
    public const string Target = "target";

    /// <summary>Egress to all or a group: a connection id to leave out (the sender).</summary>
    public const string Except = "except";

    /// <summary>Ingress with <see cref="NatsIngressLayout.PacketGroup"/>: the layout's name, <c>ferry-packet-group/1</c>.</summary>
    public const string Layout = "ferry.layout";

    /// <summary>Ingress with <see cref="NatsIngressLayout.PacketGroup"/>: the group's sequence number in its stage.</summary>
    public const string GroupSequence = "group.seq";
}
