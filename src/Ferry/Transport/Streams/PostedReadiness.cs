using System.Collections.Concurrent;

namespace Ferry.Transport.Streams;

/// <summary>
/// The stream transport's <see cref="IReadiness"/>: the service loop blocks on a signal; I/O
/// completions on pool threads post their <see cref="PostedSource"/> to a queue and set the signal.
/// </summary>
/// <remarks>
/// Level-triggered like epoll: every source reported in a round is asked again at the start of the
/// next wait and reported again while it is still ready (a connection with bytes left after one
/// receive), so the loop's "one read per connection per round" works unchanged. A source is reported at
/// most once in a round, however often it was posted meanwhile.
/// </remarks>
internal sealed class PostedReadiness : IReadiness
{
    private readonly ConcurrentQueue<PostedSource> _queue = new();
    private readonly ManualResetEventSlim _signal = new(false, spinCount: 0);
    private readonly List<(long Token, ReadyFlags Flags)> _events = [];
    private readonly List<PostedSource> _reported = [];
    private readonly int _capacity;
    private int _wakePending;
    private volatile bool _disposed;

    public PostedReadiness(int eventCapacity = 256) => _capacity = eventCapacity;

    /// <summary>Queues a source whose state changed. Any thread.</summary>
    public void Post(PostedSource source)
    {
        if (source.TryMarkQueued())
        {
            _queue.Enqueue(source);
            _signal.Set();
        }
    }

    /// <summary>Registers a listener or dial attempt of this transport.</summary>
    public void Register(PostedSource source, ReadyFlags interest, long token)
    {
        source.Register(this, interest, token);
        Post(source);
    }

    public int Watch(IConnectionIo io, ReadyFlags interest, long token)
    {
        if (io is not PostedSource source)
            return 9; // EBADF: not a connection of this transport
        Register(source, interest, token);
        return 0;
    }

    public int Change(IConnectionIo io, ReadyFlags interest, long token)
    {
        if (io is not PostedSource source)
            return 9;
        Change(source, interest);
        return 0;
    }

    /// <summary>Changes what a source is watched for and looks at it in the next round.</summary>
    public void Change(PostedSource source, ReadyFlags interest)
    {
        source.SetInterest(interest);
        Post(source);
    }

    public void Unwatch(IConnectionIo io) => (io as PostedSource)?.Unregister();

    public int Wait(int timeoutMs)
    {
        _events.Clear();
        // Level-triggered: what was ready last round and still is gets reported again.
        foreach (var source in _reported)
        {
            source.ReportedThisRound = false;
            if (Ready(source) != ReadyFlags.None)
                Post(source);
        }
        _reported.Clear();
        if (_queue.IsEmpty && Volatile.Read(ref _wakePending) == 0 && timeoutMs != 0)
            _signal.Wait(timeoutMs);
        // Reset before draining: a post after this point sets the signal again, so none is lost.
        _signal.Reset();
        if (Volatile.Read(ref _wakePending) != 0)
            _events.Add((IReadiness.WakeToken, ReadyFlags.Readable));
        while (_events.Count < _capacity && _queue.TryDequeue(out var source))
        {
            source.ClearQueued();
            // Once a round, as epoll reports a descriptor once per wait. A completion may post the source again after it
            // was taken from the queue (a write finishing just as the end of the stream is reported): reported twice, its
            // connection was read twice in the round, and the second end of stream closed a connection that was still
            // writing what was queued for a peer that had shut down its side, dropping it. What that post says is not lost:
            // every source reported this round is asked again at the start of the next wait.
            if (source.ReportedThisRound)
                continue;
            var flags = Ready(source);
            if (flags == ReadyFlags.None)
                continue;
            source.ReportedThisRound = true;
            _events.Add((source.Token, flags));
            _reported.Add(source);
        }
        if (!_queue.IsEmpty)
            _signal.Set(); // more than one round's worth: the next wait does not block
        return _events.Count;
    }

    /// <summary>What a watched source is ready for, within its interest; a hang-up is reported to a reader.</summary>
    private static ReadyFlags Ready(PostedSource source)
    {
        if (!source.Watched)
            return ReadyFlags.None;
        var interest = source.Interest;
        var now = source.Poll();
        var flags = now & interest;
        if ((now & ReadyFlags.Closed) != 0 && (interest & ReadyFlags.Readable) != 0)
            flags |= ReadyFlags.Readable | ReadyFlags.Closed;
        return flags;
    }

    public (long Token, ReadyFlags Flags) EventAt(int index) => _events[index];

    public void Wake()
    {
        if (_disposed || Interlocked.Exchange(ref _wakePending, 1) != 0)
            return;
        _signal.Set();
    }

    public void ConsumeWake() => Volatile.Write(ref _wakePending, 0);

    public void Dispose()
    {
        // The signal is not disposed: completions and wake-ups on other threads may still set it, and
        // without a wait handle taken it holds no kernel object.
        _disposed = true;
        Interlocked.Exchange(ref _wakePending, 1);
    }
}
