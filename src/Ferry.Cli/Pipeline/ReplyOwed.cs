using Ferry.Connections;

namespace Ferry.Cli.Pipeline;

/// <summary>
/// How many answers each client of a <c>target: reply</c> pair is still owed: a request counts from the moment the server
/// stage published it until its answer was handed to that stage, or it was lost (not sent, or its upstream connection
/// ended). A client that finished sending (a FIN: <c>nc -N</c>, <c>socat</c>) is closed once it is owed nothing, instead of
/// staying open for the whole <c>half_close_linger</c>.
/// </summary>
internal sealed class ReplyOwed
{
    private readonly Lock _gate = new();
    private readonly Dictionary<ConnectionId, int> _owed = [];

    /// <summary>A request of <paramref name="client"/> was published: one answer more is owed.</summary>
    public void Asked(ConnectionId client)
    {
        lock (_gate)
            _owed[client] = _owed.GetValueOrDefault(client) + 1;
    }

    /// <summary>One request of <paramref name="client"/> is settled (answered or lost); true when it is owed nothing now.</summary>
    public bool Settled(ConnectionId client)
    {
        lock (_gate)
        {
            if (!_owed.TryGetValue(client, out var count))
                return true;
            if (count > 1)
            {
                _owed[client] = count - 1;
                return false;
            }
            _owed.Remove(client);
            return true;
        }
    }

    /// <summary>Whether <paramref name="client"/> is still owed an answer.</summary>
    public bool Owes(ConnectionId client)
    {
        lock (_gate)
            return _owed.ContainsKey(client);
    }
}
