namespace Ferry.Stages.Internal;

/// <summary>
/// A stage's life as its public facade sees it: it starts once, and once stopped or disposed it never
/// starts (again). Start, stop and dispose decide under one lock, so a stop that races a start either
/// finds the stage started (and its service loop's end completes the waiters) or keeps it from ever
/// starting (and then nothing else would complete them: the caller does, told by <see cref="Stop"/>).
/// </summary>
/// <param name="kind">The stage's type name, for <see cref="ObjectDisposedException.ObjectName"/>.</param>
/// <param name="name">The stage's name, for messages.</param>
internal sealed class StageLifecycle(string kind, string name)
{
    private readonly Lock _sync = new();
    private bool _started;
    private bool _stopped;
    private bool _disposed;

    /// <summary>Whether <see cref="Stop"/> was called (a stop or a dispose), before or after a start.</summary>
    public bool IsStopped => Volatile.Read(ref _stopped);

    /// <summary>Whether the stage was started.</summary>
    public bool IsStarted => Volatile.Read(ref _started);

    /// <summary>Runs <paramref name="start"/> once, under the lock, so no stop slips in between the check and the start.</summary>
    /// <param name="start">Starts the service loop.</param>
    /// <param name="againIsError">Whether a second call throws (<c>Start</c>) or does nothing (<c>ConnectAsync</c>).</param>
    /// <exception cref="ObjectDisposedException">The stage was disposed.</exception>
    /// <exception cref="InvalidOperationException">The stage was stopped, or (with <paramref name="againIsError"/>) already started.</exception>
    public void Start(Action start, bool againIsError = true)
    {
        lock (_sync)
        {
            if (_disposed)
                throw new ObjectDisposedException($"{kind} '{name}'", $"stage '{name}' was disposed; a disposed stage does not start (create a new one)");
            if (_started)
            {
                if (againIsError)
                    throw new InvalidOperationException($"stage '{name}' was already started");
                return;
            }
            if (_stopped)
                throw new InvalidOperationException($"stage '{name}' was stopped; a stage starts once (create a new one)");
            start();
            Volatile.Write(ref _started, true);
        }
    }

    /// <summary>
    /// The stage is being stopped (or disposed). True when it never started and nothing had stopped it
    /// before: no service loop will end, so the caller completes what waits for listening or connecting.
    /// </summary>
    public bool Stop(bool dispose)
    {
        lock (_sync)
        {
            var neverRan = !_started && !_stopped;
            Volatile.Write(ref _stopped, true);
            _disposed |= dispose;
            return neverRan;
        }
    }

    /// <summary>
    /// Waits for <paramref name="ready"/> (listening, connected). When the stage ends it (stopped or
    /// disposed first) the cancellation says so, naming the stage, instead of "a task was canceled";
    /// the caller's own token cancels as usual.
    /// </summary>
    /// <param name="ready">Completed by the connection source; cancelled when the stage stops first.</param>
    /// <param name="what">What was awaited, as in "stopped before it <paramref name="what"/>".</param>
    /// <param name="cancellationToken">The caller's token.</param>
    public async Task<T> WaitAsync<T>(Task<T> ready, string what, CancellationToken cancellationToken)
    {
        try
        {
            return await ready.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            var ended = Volatile.Read(ref _disposed) ? "disposed" : "stopped";
            throw new OperationCanceledException($"stage '{name}' was {ended} before it {what}");
        }
    }
}
