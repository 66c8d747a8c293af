using Ferry.Connections;

namespace Ferry.Stages;

/// <summary>A connection joined or left a group: raised as the stage's <c>JoinedGroup</c> / <c>LeftGroup</c> .NET
/// event (on the thread that joined or left; the service thread when a closing connection leaves), and published
/// on <c>&lt;stage&gt;/events</c> when <c>group_notices</c> is on.</summary>
/// <param name="Stage">The stage's name.</param>
/// <param name="Time">When it happened (UTC, stage clock).</param>
/// <param name="ConnectionId">The connection.</param>
/// <param name="Group">The group's name.</param>
/// <param name="Joined">True when it joined, false when it left (also when it closed while a member).</param>
public sealed record GroupMembershipEvent(string Stage, DateTimeOffset Time, ConnectionId ConnectionId, string Group, bool Joined)
    : StageEvent(Stage, Time);
