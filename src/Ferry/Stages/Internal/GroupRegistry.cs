using System.Runtime.CompilerServices;
using Ferry.Connections;

namespace Ferry.Stages.Internal;

/// <summary>
/// Named groups of connections (the seed's rooms). A group exists while it has members; a closed
/// connection leaves all of its groups. Any thread; membership lives under <see cref="Sync"/>, which
/// comes after the connection table's lock and before a connection's egress lock.
/// </summary>
/// <remarks>
/// Group notices (<c>JoinedGroup</c>, <c>LeftGroup</c>, and on the bus with <c>group_notices</c>) are raised
/// in the order of the membership changes they announce, so a connection's joined notice always comes before
/// its left notice for that group and before its <c>Disconnected</c> event (which the close raises after
/// <see cref="LeaveAll"/>). A change and its notice happen under <see cref="_notices"/>, a lock taken before
/// every other (notices → connection table → group registry → egress): the notice is raised outside
/// <see cref="Sync"/>, so a handler may send, join or leave, but no other change can slip in between.
/// A handler must still not wait (docs/threading.md): a close of a grouped connection waits for it.
/// <para>
/// A join is bounded (<c>max_groups_per_connection</c>, <c>max_group_name_length</c>): joins come from code, handlers
/// and control commands that remote publishers may send, and every membership is held until a leave or the close.
/// A refused join changes nothing (no membership, no notice), is counted, and throws for its caller to report.
/// </para>
/// </remarks>
internal sealed class GroupRegistry(ConnectionTable table, EventSink events, bool notices, Func<bool> onServiceThread,
    StageCounters counters, int maxGroupsPerConnection, int maxGroupNameLength)
{
    /// <summary>How much of a refused name an error quotes: the message stays short whatever was sent.</summary>
    private const int QuotedNameLength = 64;

    private readonly Dictionary<string, HashSet<Connection>> _groups = new(StringComparer.Ordinal);
    /// <summary>Orders membership changes with their notices; first in the lock order, reentrant for handlers that join or leave.</summary>
    private readonly Lock _notices = new();

    public Lock Sync { get; } = new();

    /// <summary>Adds a connection to a group; false when the connection is unknown. A connection already in the group stays in it (true), at the cap too.</summary>
    /// <exception cref="ArgumentException">The name is empty, white space, or longer than <c>max_group_name_length</c>.</exception>
    /// <exception cref="InvalidOperationException">The connection is in <c>max_groups_per_connection</c> groups already.</exception>
    public bool Join(ConnectionId id, string group)
    {
        ValidateName(group);
        if (group.Length > maxGroupNameLength)
        {
            Interlocked.Increment(ref counters.GroupJoinsRefused);
            throw new ArgumentException($"connection {id} cannot join group {Quote(group)}: the name is {group.Length} characters long, "
                + $"and max_group_name_length allows at most {maxGroupNameLength}; use a shorter name, or raise max_group_name_length (1 to {StageOptionChecks.LongestGroupNameLimit})",
                nameof(group));
        }
        if (!table.TryGet(id, out var c))
            return false;
        lock (_notices)
        {
            bool added;
            lock (Sync)
            {
                // A close sets Closed before its LeaveAll takes this lock: a join after that finds it set.
                if (c.Closed)
                    return false;
                // Checked before anything changes, so a refused join leaves no empty group behind. A join of a group the
                // connection is in already takes nothing more, so it is not refused at the cap.
                if (maxGroupsPerConnection > 0 && c.Groups is { } current && current.Count >= maxGroupsPerConnection && !current.Contains(group))
                {
                    Interlocked.Increment(ref counters.GroupJoinsRefused);
                    throw new InvalidOperationException($"connection {id} cannot join group {Quote(group)}: it is in {current.Count} {(current.Count == 1 ? "group" : "groups")}, "
                        + $"the most max_groups_per_connection ({maxGroupsPerConnection}) allows; leave a group first, or raise max_groups_per_connection (0 = unlimited)");
                }
                if (!_groups.TryGetValue(group, out var members))
                    _groups[group] = members = [];
                added = members.Add(c);
                if (added)
                    (c.Groups ??= []).Add(group);
            }
            if (added)
                events.PublishNotice(new GroupMembershipEvent(events.Stage, events.Clock.Time.GetUtcNow(), id, group, Joined: true), notices, onServiceThread());
        }
        return true;
    }

    /// <summary>Removes a connection from a group; false when it was not a member.</summary>
    public bool Leave(ConnectionId id, string group)
    {
        ValidateName(group);
        if (!table.TryGet(id, out var c))
            return false;
        lock (_notices)
        {
            bool removed;
            lock (Sync)
                removed = RemoveLocked(c, group);
            if (removed)
                events.PublishNotice(new GroupMembershipEvent(events.Stage, events.Clock.Time.GetUtcNow(), id, group, Joined: false), notices, onServiceThread());
            return removed;
        }
    }

    /// <summary>A closed connection leaves every group it was in; returns them. Service thread.</summary>
    public IReadOnlyList<string> LeaveAll(Connection c)
    {
        // No groups now means none later (a join after the close's Closed finds it set): nothing to order,
        // and the close of an ungrouped connection never waits for another thread's notice.
        lock (Sync)
            if (c.Groups is null || c.Groups.Count == 0)
                return [];
        // A join whose notice is being raised on another thread finishes it first.
        lock (_notices)
        {
            string[] left;
            lock (Sync)
            {
                if (c.Groups is null || c.Groups.Count == 0)
                    return [];
                left = [.. c.Groups];
                foreach (var group in left)
                    RemoveLocked(c, group);
            }
            foreach (var group in left)
                events.PublishNotice(new GroupMembershipEvent(events.Stage, events.Clock.Time.GetUtcNow(), c.Id, group, Joined: false), notices, onServiceThread: true);
            return left;
        }
    }

    private bool RemoveLocked(Connection c, string group)
    {
        if (!_groups.TryGetValue(group, out var members) || !members.Remove(c))
            return false;
        c.Groups!.Remove(group);
        if (members.Count == 0)
            _groups.Remove(group);
        return true;
    }

    /// <summary>The members of a group. Under <see cref="Sync"/>; null when the group does not exist.</summary>
    public HashSet<Connection>? MembersLocked(string? group)
        => group is not null && _groups.TryGetValue(group, out var members) ? members : null;

    /// <summary>A copy of a group's members (any thread).</summary>
    public Connection[] Members(string? group)
    {
        lock (Sync)
            return MembersLocked(group) is { } members ? [.. members] : [];
    }

    public IReadOnlyList<ConnectionId> MemberIds(string group)
    {
        // Checked here, not left to the dictionary: its ArgumentNullException named its own parameter, 'key'.
        ValidateName(group);
        lock (Sync)
            return _groups.TryGetValue(group, out var members) ? members.Select(m => m.Id).ToArray() : [];
    }

    public IReadOnlyList<string> GroupsOf(ConnectionId id)
    {
        if (!table.TryGet(id, out var c))
            return [];
        return GroupsOf(c);
    }

    public IReadOnlyList<string> GroupsOf(Connection c)
    {
        lock (Sync)
            return c.Groups is null ? [] : [.. c.Groups];
    }

    public IReadOnlyList<string> Names()
    {
        lock (Sync)
            return [.. _groups.Keys];
    }

    /// <summary>
    /// What every public member taking a group name checks first: null is <see cref="ArgumentNullException"/>, as .NET answers a
    /// missing argument, and an empty or white-space name <see cref="ArgumentException"/> (a join refuses it, so no group has it:
    /// sending to it or asking for its members is a mistake, not an empty group). Both name the caller's parameter.
    /// </summary>
    public static void ValidateName(string? group, [CallerArgumentExpression(nameof(group))] string? parameter = null)
    {
        if (group is null)
            throw new ArgumentNullException(parameter, "a group name must not be null");
        if (string.IsNullOrWhiteSpace(group))
            throw new ArgumentException(group.Length == 0 ? "a group name must not be empty" : "a group name must not be white space alone", parameter);
    }

    /// <summary>A name as an error quotes it: in single quotes, cut after <see cref="QuotedNameLength"/> characters (not inside a surrogate pair).</summary>
    private static string Quote(string group)
    {
        if (group.Length <= QuotedNameLength)
            return $"'{group}'";
        var cut = char.IsHighSurrogate(group[QuotedNameLength - 1]) ? QuotedNameLength - 1 : QuotedNameLength;
        return $"'{group[..cut]}…'";
    }
}
