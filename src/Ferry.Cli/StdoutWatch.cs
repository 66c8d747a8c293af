using Ferry.Transport.Interop;

namespace Ferry.Cli;

/// <summary>
/// Notices that the reader of the process's stdout has gone: a pipe whose reading end closed (<c>ferry serve | head -1</c>), a
/// socket whose peer left. .NET's console pretends a write there succeeded (it ignores EPIPE), so a command went on with every
/// line lost and nothing said. On Linux, poll(2) on descriptor 1 says it (POLLERR for a pipe, POLLHUP for a socket); a file,
/// a terminal or /dev/null never do. Elsewhere it is not looked for.
/// </summary>
internal static class StdoutWatch
{
    private const short PollErr = 0x008, PollHup = 0x010;

    /// <summary>How often it is looked at: a poll(2) of one descriptor, once a second.</summary>
    private static readonly TimeSpan Every = TimeSpan.FromSeconds(1);

    /// <summary>Whether descriptor <paramref name="fd"/>'s reader has gone.</summary>
    public static bool ReaderGone(int fd = 1) => OperatingSystem.IsLinux() && (Libc.PollEvents(fd) & (PollErr | PollHup)) != 0;

    /// <summary>
    /// Calls <paramref name="gone"/> once, when the process's stdout loses its reader, unless <paramref name="stopping"/> ends the
    /// watch first. Only for the process's own stdout (<see cref="CliIo.StdoutIsProcess"/>): a command run in-process writes elsewhere.
    /// </summary>
    public static async Task WatchAsync(CliIo io, Action gone, CancellationToken stopping)
    {
        if (!io.StdoutIsProcess || !OperatingSystem.IsLinux())
            return;
        try
        {
            while (!ReaderGone())
                await Task.Delay(Every, stopping).ConfigureAwait(false);
            gone();
        }
        catch (OperationCanceledException)
        {
        }
    }
}
