using Ferry.Connections;

namespace Ferry.Stages;

/// <summary>A connection joined or left a group (published when <c>group_notices</c> is on).</summary>
public sealed record GroupMembershipEvent(string Stage, DateTimeOffset Time, ConnectionId ConnectionId, string Group, bool Joined)
    : StageEvent(Stage, Time);
