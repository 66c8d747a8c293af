using System.Runtime.InteropServices;

namespace Ferry.Cli;

/// <summary>
/// SIGINT, SIGTERM and SIGHUP for a command that serves until stopped: the first signal asks for a graceful stop
/// (<see cref="Stopping"/>), the next one cuts the drain short (<see cref="Forced"/>), as an operator who presses
/// Ctrl+C twice, or a supervisor that sends SIGTERM again, expects. SIGHUP (the terminal went away, an ssh session that
/// ended) is a stop like the others: by default it ended the process at once, every connection reset and nothing drained.
/// </summary>
internal sealed class StopSignals : IDisposable
{
    private readonly CancellationTokenSource _stop;
    private readonly CancellationTokenSource _force = new();
    private readonly PosixSignalRegistration _sigint;
    private readonly PosixSignalRegistration _sigterm;
    private readonly PosixSignalRegistration _sighup;
    private int _signals;

    /// <param name="cancellationToken">Also stops gracefully (the command's own token).</param>
    public StopSignals(CancellationToken cancellationToken)
    {
        _stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        _sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, Signalled);
        _sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, Signalled);
        _sighup = PosixSignalRegistration.Create(PosixSignal.SIGHUP, Signalled);
    }

    /// <summary>Cancelled by the first signal, the command's token or <see cref="Stop"/>: stop gracefully.</summary>
    public CancellationToken Stopping => _stop.Token;

    /// <summary>Cancelled by the second signal: stop now, dropping (and counting) what has not drained.</summary>
    public CancellationToken Forced => _force.Token;

    /// <summary>
    /// Stops gracefully, as a signal does (a bind that gave up, a stage that failed). The cancellation's callbacks run
    /// on the thread pool: the caller may be a stage's own thread, which the stop they start waits for.
    /// </summary>
    public void Stop() => _ = _stop.CancelAsync();

    private void Signalled(PosixSignalContext context)
    {
        context.Cancel = true;
        if (Interlocked.Increment(ref _signals) == 1)
            _stop.Cancel();
        else
            _force.Cancel();
    }

    public void Dispose()
    {
        _sigint.Dispose();
        _sigterm.Dispose();
        _sighup.Dispose();
        _stop.Dispose();
        _force.Dispose();
    }
}
