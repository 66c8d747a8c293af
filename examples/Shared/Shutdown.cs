using System.Runtime.InteropServices;

namespace Ferry.Examples;

/// <summary>
/// Ctrl+C and SIGTERM as a cancellation token, for the examples' programs (one file linked into
/// each example project, so every example stays a single project of its own).
/// </summary>
internal sealed class Shutdown : IDisposable
{
    private readonly CancellationTokenSource _stop = new();
    private readonly PosixSignalRegistration _sigint;
    private readonly PosixSignalRegistration _sigterm;

    public Shutdown()
    {
        _sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, Stop);
        _sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, Stop);
    }

    /// <summary>Cancelled by the first Ctrl+C or SIGTERM.</summary>
    public CancellationToken Token => _stop.Token;

    /// <summary>Completes when the process is asked to stop.</summary>
    public Task WaitAsync() => Task.Delay(Timeout.Infinite, Token).ContinueWith(_ => { }, TaskScheduler.Default);

    /// <summary>
    /// Runs a program's main part with a <see cref="Shutdown"/>; an <see cref="IOException"/> (a port that cannot be bound,
    /// a file that cannot be read) becomes one line on stderr and exit code 1. A cancellation once the program was asked to
    /// stop (Ctrl+C or SIGTERM while a stage starts, say) is that stop, not a failure: it ends quietly with exit code 0, as
    /// a stop after the start does. Any other <see cref="OperationCanceledException"/> is a fault and still surfaces.
    /// </summary>
    public static Task<int> RunAsync(string program, Func<Shutdown, Task<int>> main) => RunAsync(program, main, new Shutdown(), Console.Error);

    /// <summary><see cref="RunAsync(string, Func{Shutdown, Task{int}})"/> with the shutdown (disposed here) and stderr given (tests).</summary>
    internal static async Task<int> RunAsync(string program, Func<Shutdown, Task<int>> main, Shutdown shutdown, TextWriter stderr)
    {
        using (shutdown)
        {
            try
            {
                return await main(shutdown);
            }
            catch (IOException e)
            {
                stderr.WriteLine($"{program}: {e.Message}");
                return 1;
            }
            catch (OperationCanceledException) when (shutdown.Token.IsCancellationRequested)
            {
                // The token a start was given may be a linked one, so the exception's own token is not compared: the
                // program was asked to stop, and this is where that stop reached.
                return 0;
            }
        }
    }

    /// <summary>Starts what <paramref name="owner"/> wraps; when that fails, disposes the owner and rethrows.</summary>
    public static async Task<T> StartedAsync<T>(T owner, Func<Task> start) where T : IAsyncDisposable
    {
        try
        {
            await start();
            return owner;
        }
        catch
        {
            await owner.DisposeAsync();
            throw;
        }
    }

    /// <summary>Asks for the stop a signal asks for (a program that decides to end, a test).</summary>
    public void Stop() => _stop.Cancel();

    private void Stop(PosixSignalContext context)
    {
        context.Cancel = true;   // a graceful stop instead of the runtime's default exit
        _stop.Cancel();
    }

    public void Dispose()
    {
        _sigint.Dispose();
        _sigterm.Dispose();
        _stop.Dispose();
    }
}
