using System.Runtime.CompilerServices;

namespace Ferry.Stages.Internal;

/// <summary>
/// What <see cref="FerryConnection.ReadAsync"/> returns: walks the inbox batch by batch. Moving to the next
/// message of a batch is an index increment that completes synchronously; at the end of a batch the batch
/// is released (its messages' bytes go back to the pool unless retained), and only when no batch is queued
/// does the enumerator wait. Left before the end of a batch, it leaves the rest of the batch to the next
/// reader (<see cref="ConnectionInbox.Leave"/>), so "read the first message, then loop over the rest" loses
/// nothing however the messages were segmented. Written by hand rather than as an async iterator because
/// this is the per-message path of every handler. Enumerated once.
/// </summary>
internal sealed class InboxReader(ConnectionInbox inbox, CancellationToken readToken) : IAsyncEnumerable<ConnectionMessage>, IAsyncEnumerator<ConnectionMessage>
{
    private InboxBatch? _batch;
    private int _index;
    private int _started;
    private CancellationToken _token;
    private CancellationTokenSource? _linked;
    private CancellationTokenRegistration _cancellation;

    public IAsyncEnumerator<ConnectionMessage> GetAsyncEnumerator(CancellationToken cancellationToken = default)
    {
        if (Interlocked.Exchange(ref _started, 1) != 0)
            throw new InvalidOperationException("what ReadAsync returns can be enumerated once; call ReadAsync again to go on reading");
        // Both tokens count, as for an async iterator's [EnumeratorCancellation] parameter.
        if (!cancellationToken.CanBeCanceled || cancellationToken == readToken)
            _token = readToken;
        else if (!readToken.CanBeCanceled)
            _token = cancellationToken;
        else
            _token = (_linked = CancellationTokenSource.CreateLinkedTokenSource(readToken, cancellationToken)).Token;
        // Registered once for the whole enumeration, not per wait.
        if (_token.CanBeCanceled)
            _cancellation = _token.UnsafeRegister(static (inbox, token) => ((ConnectionInbox)inbox!).CancelWait(token), inbox);
        return this;
    }

    /// <summary>The message the enumerator is on; valid until the next <see cref="MoveNextAsync"/> (see <see cref="ConnectionMessage"/>).</summary>
    public ConnectionMessage Current => _batch is { } batch ? batch[_index] : default;

    public ValueTask<bool> MoveNextAsync()
    {
        if (_batch is { } batch)
        {
            if (++_index < batch.Count)
                return new ValueTask<bool>(true);
            _batch = null;
            inbox.Done(batch);
        }
        return TakeNext() ? new ValueTask<bool>(true) : WaitAndTakeAsync();
    }

    private bool TakeNext()
    {
        if (!inbox.TryTake(out var next, out var first))
            return false;
        _batch = next;
        _index = first;
        return true;
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<bool> WaitAndTakeAsync()
    {
        while (true)
        {
            if (!await inbox.WaitAsync(_token).ConfigureAwait(false))
                return false;
            if (TakeNext())
                return true;
        }
    }

    public ValueTask DisposeAsync()
    {
        // Left mid-batch (break, return, an exception): the messages after the current one stay in the
        // inbox for the next ReadAsync; a batch read to its end is released.
        if (_batch is { } batch)
        {
            _batch = null;
            inbox.Leave(batch, _index + 1);
        }
        _cancellation.Dispose();
        _linked?.Dispose();
        _linked = null;
        return default;
    }
}
