namespace Ferry.Transport.Streams;

/// <summary>
/// Something a <see cref="PostedReadiness"/> reports on: a connection, a listener, a dial attempt. It
/// posts itself when its state changes (from I/O completions on any thread); the readiness asks
/// <see cref="Poll"/> what it is ready for now, which makes the reports level-triggered.
/// </summary>
internal abstract class PostedSource
{
    private PostedReadiness? _readiness;
    private int _queued;
    private volatile int _interest;
    private volatile bool _watched;

    /// <summary>The readiness token (set on registration).</summary>
    public long Token { get; private set; }

    public ReadyFlags Interest => (ReadyFlags)_interest;

    public bool Watched => _watched;

    /// <summary>Whether the readiness has reported this source in its current round (the service thread's).</summary>
    internal bool ReportedThisRound { get; set; }

    /// <summary>What the source is ready for now (Readable, Writable, Closed), whatever the interest.</summary>
    public abstract ReadyFlags Poll();

    /// <summary>Registration by the readiness; <see cref="OnWatched"/> lets the source start its I/O.</summary>
    internal void Register(PostedReadiness readiness, ReadyFlags interest, long token)
    {
        _readiness = readiness;
        Token = token;
        _interest = (int)interest;
        _watched = true;
        OnWatched();
    }

    internal void SetInterest(ReadyFlags interest) => _interest = (int)interest;

    internal void Unregister() => _watched = false;

    /// <summary>Marks the source queued; false when it already was (the readiness queues it once).</summary>
    internal bool TryMarkQueued() => Interlocked.Exchange(ref _queued, 1) == 0;

    internal void ClearQueued() => Volatile.Write(ref _queued, 0);

    /// <summary>Called once on registration, on the service thread.</summary>
    protected virtual void OnWatched()
    {
    }

    /// <summary>Tells the readiness the state changed. Any thread; coalesced.</summary>
    protected void Post()
    {
        if (_watched)
            _readiness?.Post(this);
    }
}
