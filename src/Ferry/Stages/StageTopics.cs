namespace Ferry.Stages;

/// <summary>The names of a stage's channels on the bus, from the stage's <c>Name</c>.</summary>
public static class StageTopics
{
    /// <summary><c>&lt;stage&gt;/packet_group</c>: received messages, as <see cref="Stages.PacketGroup"/>.</summary>
    public static string PacketGroup(string stage) => stage + "/packet_group";

    /// <summary><c>&lt;stage&gt;/egress_packets</c>: messages to send, as <see cref="EgressMessage"/>.</summary>
    public static string EgressPackets(string stage) => stage + "/egress_packets";

    /// <summary><c>&lt;stage&gt;/socket_stats</c>: periodic figures, as <see cref="Stages.SocketStats"/>.</summary>
    public static string SocketStats(string stage) => stage + "/socket_stats";

    /// <summary><c>&lt;stage&gt;/events</c>: lifecycle events, as <see cref="StageEvent"/>.</summary>
    public static string Events(string stage) => stage + "/events";

    /// <summary><c>&lt;stage&gt;/control</c>: commands to the stage, as <see cref="ControlCommand"/>.</summary>
    public static string Control(string stage) => stage + "/control";
}
