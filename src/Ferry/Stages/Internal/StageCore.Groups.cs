using Ferry.Connections;

namespace Ferry.Stages.Internal;

/// <summary>Named groups of connections (the seed's rooms). A group exists while it has members.</summary>
internal abstract partial class StageCore
{
    private readonly Dictionary<string, HashSet<Connection>> _groups = new(StringComparer.Ordinal);
    private readonly Lock _groupLock = new();
    private readonly bool _groupNotices;

    /// <summary>Adds a connection to a group; false when the connection is unknown.</summary>
    internal bool Join(ConnectionId id, string group)
    {
        ValidateGroupName(group);
        if (!_byId.TryGetValue(id, out var c))
            return false;
        bool added;
        lock (_groupLock)
        {
            if (c.Closed)
                return false;
            if (!_groups.TryGetValue(group, out var members))
                _groups[group] = members = [];
            added = members.Add(c);
            if (added)
                (c.Groups ??= []).Add(group);
        }
        if (added && _groupNotices)
            PublishNotice(new GroupMembershipEvent(Name, DateTimeOffset.UtcNow, id, group, Joined: true));
        return true;
    }

    /// <summary>Removes a connection from a group; false when it was not a member.</summary>
    internal bool Leave(ConnectionId id, string group)
    {
        ValidateGroupName(group);
        if (!_byId.TryGetValue(id, out var c))
            return false;
        bool removed;
        lock (_groupLock)
            removed = RemoveFromGroup(c, group);
        if (removed && _groupNotices)
            PublishNotice(new GroupMembershipEvent(Name, DateTimeOffset.UtcNow, id, group, Joined: false));
        return removed;
    }

    private bool RemoveFromGroup(Connection c, string group)
    {
        if (!_groups.TryGetValue(group, out var members) || !members.Remove(c))
            return false;
        c.Groups!.Remove(group);
        if (members.Count == 0)
            _groups.Remove(group);
        return true;
    }

    /// <summary>A closed connection leaves every group it was in.</summary>
    private void LeaveAllGroups(Connection c)
    {
        string[] left;
        lock (_groupLock)
        {
            if (c.Groups is null || c.Groups.Count == 0)
                return;
            left = [.. c.Groups];
            foreach (var group in left)
                RemoveFromGroup(c, group);
        }
        if (_groupNotices)
            foreach (var group in left)
                PublishNotice(new GroupMembershipEvent(Name, DateTimeOffset.UtcNow, c.Id, group, Joined: false));
    }

    private void PublishNotice(GroupMembershipEvent notice)
    {
        if (OnServiceThread)
        {
            RaiseAndPublish<GroupMembershipEvent>(null, notice);
            return;
        }
        // Off the service thread the bus is published to directly; events keep their own order per publisher.
        var publishing = _eventsTopic.PublishAsync(notice);
        if (!publishing.IsCompletedSuccessfully)
            publishing.AsTask().GetAwaiter().GetResult();
    }

    private int RouteToGroupNow(in Stages.EgressMessage message, int length)
    {
        var delivered = 0;
        lock (_groupLock)
        {
            if (message.Group is null || !_groups.TryGetValue(message.Group, out var members))
                return 0;
            var payload = message.Payload.Span;
            foreach (var c in members)
                if (c.Id != message.Except && Enqueue(c, payload, message.Fields, length) == EnqueueResult.Queued)
                    delivered++;
        }
        return delivered;
    }

    private Connection[] GroupMembers(string? group)
    {
        lock (_groupLock)
            return group is not null && _groups.TryGetValue(group, out var members) ? [.. members] : [];
    }

    internal IReadOnlyList<ConnectionId> GetGroupMembers(string group)
    {
        lock (_groupLock)
            return _groups.TryGetValue(group, out var members) ? members.Select(m => m.Id).ToArray() : [];
    }

    internal IReadOnlyList<string> GetGroupsOf(ConnectionId id)
    {
        if (!_byId.TryGetValue(id, out var c))
            return [];
        lock (_groupLock)
            return c.Groups is null ? [] : [.. c.Groups];
    }

    internal IReadOnlyList<string> GetGroupNames()
    {
        lock (_groupLock)
            return [.. _groups.Keys];
    }

    private static void ValidateGroupName(string group)
    {
        if (string.IsNullOrWhiteSpace(group))
            throw new ArgumentException("a group name must not be empty", nameof(group));
    }
}
