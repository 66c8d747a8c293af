using System.Collections.Concurrent;
using Ferry.Connections;

namespace Ferry.Cli.Pipeline;

/// <summary>
/// The connections whose messages went out over a route and await an answer, oldest first: a
/// <c>target: reply</c> route hands each answer to the oldest. Bounded: past <see cref="Capacity"/>
/// unanswered messages the oldest is forgotten (its answer, if it ever comes, goes to the next).
/// </summary>
internal sealed class ReplyBook
{
    public const int Capacity = 65536;

    private readonly ConcurrentQueue<ConnectionId> _waiting = new();

    public void Add(ConnectionId connection)
    {
        _waiting.Enqueue(connection);
        while (_waiting.Count > Capacity && _waiting.TryDequeue(out _))
        {
        }
    }

    public bool TryTake(out ConnectionId connection) => _waiting.TryDequeue(out connection);
}
