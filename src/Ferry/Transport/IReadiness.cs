namespace Ferry.Transport;

/// <summary>
/// What a stage's service loop waits on: readiness of the descriptors it watches, a wake-up from
/// other threads, and a timeout. The epoll <see cref="Reactor"/> is the Linux fast path; a transport
/// without epoll (the portable stream transport) implements the same contract with a queue of posted
/// completions, so the loop and everything above it stay the same. Connections are registered by
/// their <see cref="IConnectionIo"/>, so each transport finds its own mechanism (a descriptor, a
/// posted source) behind it; listeners and dial attempts are registered by the transport itself.
/// </summary>
/// <remarks>
/// Level-triggered on every transport: a connection reported readable is read once per round and is
/// reported again in the next round while bytes remain, so a busy client cannot starve the others.
/// </remarks>
internal interface IReadiness : IDisposable
{
    /// <summary>The token of the loop's own wake-up event, on every transport: no connection, listener or dial is given it.</summary>
    const long WakeToken = -1;

    /// <summary>Blocks up to <paramref name="timeoutMs"/> ms; returns how many events <see cref="EventAt"/> may read.</summary>
    int Wait(int timeoutMs);

    /// <summary>The token and readiness flags (<see cref="ReadyFlags"/>) of event <paramref name="index"/> of the last wait.</summary>
    (long Token, ReadyFlags Flags) EventAt(int index);

    /// <summary>Wakes the loop from any thread; coalesced. Safe after disposal (does nothing).</summary>
    void Wake();

    /// <summary>Called by the loop for the wake token: re-arms <see cref="Wake"/>.</summary>
    void ConsumeWake();

    /// <summary>Starts watching a connection of this readiness's transport; returns 0 or an error code.</summary>
    int Watch(IConnectionIo io, ReadyFlags interest, long token);

    /// <summary>Changes what is watched for; returns 0 or an error code.</summary>
    int Change(IConnectionIo io, ReadyFlags interest, long token);

    /// <summary>Stops watching a connection (before it is closed).</summary>
    void Unwatch(IConnectionIo io);
}

/// <summary>Readiness as the loop sees it, independent of the mechanism.</summary>
[Flags]
internal enum ReadyFlags : uint
{
    None = 0,
    Readable = 1,
    Writable = 2,
    /// <summary>Hang-up or error: the next receive tells which.</summary>
    Closed = 4,
}
