using System.Globalization;
using System.Runtime.InteropServices;
using Microsoft.Extensions.Logging;

namespace Ferry.Cli;

/// <summary>
/// Gives the start-up's file pages back to the kernel once a long-running command is up (Linux, kernel 5.4 or
/// later; elsewhere nothing happens). A native <c>ferry</c> reads about 2.5 MB of compressed type data once while
/// the runtime starts, and runs configuration, command-line and set-up code that an idle or busy server never
/// runs again; those pages stay resident only because nothing asked for them back (docs/benchmarks.md, "Native
/// binary, sixth round"). <c>MADV_PAGEOUT</c> on the process's private file mappings drops the pages that only
/// this process maps; the ones the server still uses come back from the page cache on their next touch. It
/// never loses data: written (private dirty) pages, such as relocated data, are not file pages any more and stay
/// (without swap), and pages other processes map too are left alone by the kernel.
/// </summary>
internal static partial class StartupPages
{
    private const int MadvPageout = 21;

    /// <summary>
    /// How long after a command is up the pages are released: long enough for the first rounds of the stages'
    /// timers (the first stats line, the first idle sweep), whose code would otherwise come straight back.
    /// </summary>
    public static readonly TimeSpan Settle = TimeSpan.FromSeconds(2);

    /// <summary>
    /// When the release is repeated, after the first. The kernel takes only pages that are on its reclaim lists, and
    /// the last ones a process touched can still wait in a per-CPU batch to be put there: measured on the native
    /// binary, one release 2 s after listening left about 1.6 MB of start-up pages that the same call made a few
    /// seconds later took.
    /// </summary>
    public static readonly TimeSpan Again = TimeSpan.FromSeconds(5);

    /// <summary>Releases the start-up pages once the command has been up for <see cref="Settle"/>, and again <see cref="Again"/> later.</summary>
    public static async Task ReleaseWhenSettledAsync(ILogger logger, CancellationToken cancellationToken)
    {
        try
        {
            await Task.Delay(Settle, cancellationToken).ConfigureAwait(false);
            Release(logger);
            await Task.Delay(Again, cancellationToken).ConfigureAwait(false);
            Release(logger);
        }
        catch (OperationCanceledException)
        {
        }
    }

    /// <summary>Releases the start-up pages now; returns the bytes of mappings advised (0 where unsupported).</summary>
    public static long Release(ILogger? logger = null)
    {
        if (!OperatingSystem.IsLinux())
            return 0;
        string maps;
        try
        {
            maps = File.ReadAllText("/proc/self/maps");
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            logger?.LogDebug("start-up pages kept: /proc/self/maps: {Message}", ex.Message);
            return 0;
        }
        // Parsed before the first advice: code that runs after it faults its pages back in, each fault bringing its
        // neighbours too (the kernel's fault-around), so the loop below is kept to the system call alone.
        var mappings = PrivateFileMappings(maps).ToArray();
        long advised = 0;
        try
        {
            foreach (var (start, length) in mappings)
            {
                if (Native.Madvise((nint)start, (nuint)length, MadvPageout) != 0)
                {
                    // EINVAL: a kernel before 5.4, which has no MADV_PAGEOUT; nothing else to try.
                    logger?.LogDebug("start-up pages kept: madvise(MADV_PAGEOUT) failed with errno {Errno}", Marshal.GetLastPInvokeError());
                    return advised;
                }
                advised += (long)length;
            }
        }
        catch (Exception ex) when (ex is DllNotFoundException or EntryPointNotFoundException)
        {
            // A C library that cannot be loaded as "libc" (musl names it differently): the pages simply stay.
            logger?.LogDebug("start-up pages kept: {Message}", ex.Message);
            return advised;
        }
        logger?.LogDebug("start-up pages released: {KiB} KiB of private file mappings advised", advised / 1024);
        return advised;
    }

    /// <summary>
    /// The private, readable, file-backed mappings of a <c>/proc/PID/maps</c> text: the executable's code, read-only
    /// data and data, and those of the shared libraries. In a writable one only the pages never written are file
    /// pages (the written ones are the process's own copies, which the advice cannot drop without swap and never
    /// loses); with <c>-p:FerryFixedImage=true</c> the type data is such a mapping. Shared, anonymous and special
    /// (<c>[vdso]</c>) mappings are left out.
    /// </summary>
    public static IEnumerable<(ulong Start, ulong Length)> PrivateFileMappings(string maps)
    {
        foreach (var line in maps.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            // start-end perms offset dev inode [path]
            var fields = line.Split(' ', 6, StringSplitOptions.RemoveEmptyEntries);
            if (fields.Length < 6 || fields[1].Length != 4)
                continue;
            var perms = fields[1];
            if (perms[0] != 'r' || perms[3] != 'p' || fields[4] == "0" || !fields[5].TrimStart().StartsWith('/'))
                continue;
            var range = fields[0].Split('-');
            if (range.Length != 2
                || !ulong.TryParse(range[0], NumberStyles.HexNumber, CultureInfo.InvariantCulture, out var start)
                || !ulong.TryParse(range[1], NumberStyles.HexNumber, CultureInfo.InvariantCulture, out var end)
                || end <= start)
                continue;
            yield return (start, end - start);
        }
    }

    /// <summary>The C library's <c>madvise</c>: Linux only, which the platform analyzer holds every caller to (CA1416).</summary>
    [System.Runtime.Versioning.SupportedOSPlatform("linux")]
    private static partial class Native
    {
        [LibraryImport("libc", EntryPoint = "madvise", SetLastError = true)]
        public static partial int Madvise(nint address, nuint length, int advice);
    }
}
