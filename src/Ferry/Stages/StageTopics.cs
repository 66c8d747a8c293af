namespace Ferry.Stages;

/// <summary>The names of a stage's channels on the bus.</summary>
public static class StageTopics
{
    public static string PacketGroup(string stage) => stage + "/packet_group";

    public static string EgressPackets(string stage) => stage + "/egress_packets";

    public static string SocketStats(string stage) => stage + "/socket_stats";

    public static string Events(string stage) => stage + "/events";

    public static string Control(string stage) => stage + "/control";
}
