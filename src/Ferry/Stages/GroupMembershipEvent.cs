using Ferry.Connections;

namespace Ferry.Stages;

/// <summary>A connection joined or left a group (published on <c>&lt;stage&gt;/events</c> when <c>group_notices</c> is on; not raised as a .NET event).</summary>
/// <param name="Stage">The stage's name.</param>
/// <param name="Time">When it happened (UTC, stage clock).</param>
/// <param name="ConnectionId">The connection.</param>
/// <param name="Group">The group's name.</param>
/// <param name="Joined">True when it joined, false when it left (also when it closed while a member).</param>
public sealed record GroupMembershipEvent(string Stage, DateTimeOffset Time, ConnectionId ConnectionId, string Group, bool Joined)
    : StageEvent(Stage, Time);
