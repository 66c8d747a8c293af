namespace Ferry.Transport;

/// <summary>A socket finishing its graceful close (it owes the peer bytes, or waits for the peer's EOF).</summary>
internal interface ILingeringSocket
{
    /// <summary>
    /// Gives up on the graceful end: the socket is closed with a reset as soon as its closer can (any thread; once). The
    /// closer must still call <see cref="CloseLinger.Leave"/>, which then does nothing.
    /// </summary>
    void Reset();
}

/// <summary>
/// One stage's lingering closes: how long a connection the stage closed gracefully may keep its descriptor to finish
/// (<c>close_linger</c>: owed bytes, the FIN, the peer's EOF), on which clock (the stage's, like its other timeouts), and
/// how many may do so at once.
/// </summary>
/// <remarks>
/// <para>The bound. A closed connection whose peer neither reads nor closes holds its descriptor for the whole limit, out of
/// sight of <c>max_connections</c>: an idle-timeout sweep, a stop or a flood of refused clients could leave the process
/// holding many times the descriptors the limit promises. So at most <see cref="Cap"/> sockets linger (a server stage's
/// <c>max_connections</c>: with its live connections, at most twice that many descriptors); the one that would go beyond it
/// makes the oldest lingering socket close at once with a reset. The oldest, not the newest: a well-behaved peer ends a
/// lingering close in a round trip, so the one that has lingered longest is the likeliest never to end it, and it has had
/// the most time to take its answers. Counting lingering sockets against <c>max_connections</c> instead would let peers that
/// never close keep new clients out.</para>
/// <para>Thread-safe: entered by the service thread (a close), left by the closer (the lingering thread, a pool thread).</para>
/// </remarks>
/// <param name="limit">How long one socket may linger; zero closes at once (what can be sent now is, and what the peer's bytes unread cause, a reset, is accepted).</param>
/// <param name="cap">How many sockets may linger at once; 0 = no bound beyond the limit.</param>
/// <param name="time">The stage's clock.</param>
internal sealed class CloseLinger(TimeSpan limit, int cap, TimeProvider time)
{
    /// <summary>The default limit (<c>close_linger</c>); nginx's <c>lingering_timeout</c> is 5 s.</summary>
    public static readonly TimeSpan DefaultLimit = TimeSpan.FromSeconds(2);

    /// <summary>Sockets not made by a stage (tests): the default limit, no bound, the system clock.</summary>
    public static CloseLinger Unbounded { get; } = new(DefaultLimit, 0, TimeProvider.System);

    private readonly Lock _sync = new();
    /// <summary>The lingering sockets, oldest first.</summary>
    private readonly LinkedList<ILingeringSocket> _order = new();
    private long _resetTotal;

    public TimeSpan Limit { get; } = limit;

    public int Cap { get; } = cap;

    public TimeProvider Time { get; } = time;

    /// <summary>Sockets lingering now.</summary>
    public int Count
    {
        get
        {
            lock (_sync)
                return _order.Count;
        }
    }

    /// <summary>Lingering sockets reset to keep within <see cref="Cap"/>, since the stage started.</summary>
    public long ResetTotal => Interlocked.Read(ref _resetTotal);

    /// <summary>The stage-clock timestamp at which a socket that starts lingering now must be closed.</summary>
    public long DeadlineFromNow() => Time.GetTimestamp() + (long)(Limit.TotalSeconds * Time.TimestampFrequency);

    /// <summary>
    /// Counts <paramref name="socket"/> as lingering; when that takes the count beyond <see cref="Cap"/>, the oldest is reset
    /// (<see cref="ILingeringSocket.Reset"/>, outside the lock) and no longer counted. The place is given back by <see cref="Leave"/>.
    /// </summary>
    public LinkedListNode<ILingeringSocket> Enter(ILingeringSocket socket)
    {
        ILingeringSocket? oldest = null;
        LinkedListNode<ILingeringSocket> place;
        lock (_sync)
        {
            if (Cap > 0 && _order.Count >= Cap)
            {
                oldest = _order.First!.Value;
                _order.RemoveFirst();
            }
            place = _order.AddLast(socket);
        }
        if (oldest is not null)
        {
            Interlocked.Increment(ref _resetTotal);
            oldest.Reset();
        }
        return place;
    }

    /// <summary>The socket of <paramref name="place"/> (from <see cref="Enter"/>) is closed: no longer counted. Idempotent.</summary>
    public void Leave(LinkedListNode<ILingeringSocket> place)
    {
        lock (_sync)
        {
            if (place.List is not null)
                _order.Remove(place);
        }
    }
}
