using Ferry.Transport.Interop;

namespace Ferry.Transport;

/// <summary>
/// Descriptors kept free below the process limit for the runtime and the stage: running out there
/// (a file the runtime must open, an assembly it loads, an eventfd, a dial) crashes or wedges the process,
/// while running out for one more client only costs that client. Descriptors are handed out lowest first,
/// so an accepted one numbered N means every one below N is in use: at or above <see cref="Ceiling"/> only
/// the reserve is left. Both transports' listeners shed such a connection (<see cref="AcceptStatus.AtReserve"/>).
/// Linux only: elsewhere the limit is not read and nothing is reserved.
/// </summary>
internal static class DescriptorReserve
{
    /// <summary>What an operator changes to allow the process more descriptors.</summary>
    private const string RaiseProcessLimit = "raise it with ulimit -n, or LimitNOFILE= under systemd";

    /// <summary>The process's soft limit on open descriptors when the stage started (-1 when unknown).</summary>
    public static readonly long Limit = OperatingSystem.IsLinux() ? Libc.DescriptorLimit() : -1;

    /// <summary>The first descriptor number that belongs to the reserve (long.MaxValue when the limit is unknown).</summary>
    public static readonly long Ceiling = Limit <= 0 ? long.MaxValue : Limit - Math.Clamp(Limit / 20, Math.Min(32, Limit / 4), 1024);

    /// <summary>Whether an accepted descriptor is in the reserve: its connection is shed.</summary>
    public static bool Holds(long descriptor) => descriptor >= (s_ceilingForTest.Value ?? Ceiling);

    /// <summary>
    /// A ceiling for the stages started in the calling flow only (tests: the process limit cannot be lowered
    /// for one test). It flows with the execution context into the stage's service thread and accept loop,
    /// so stages of other tests running at the same time keep the real ceiling.
    /// </summary>
    private static readonly AsyncLocal<long?> s_ceilingForTest = new();

    /// <summary>Test seam: until disposed, stages started from this flow treat descriptors from <paramref name="ceiling"/> up as the reserve.</summary>
    internal static IDisposable CeilingForTest(long ceiling)
    {
        s_ceilingForTest.Value = ceiling;
        return new CeilingRestore();
    }

    private sealed class CeilingRestore : IDisposable
    {
        public void Dispose() => s_ceilingForTest.Value = null;
    }

    /// <summary>Why a connection whose descriptor is in the reserve is shed, and what to raise.</summary>
    public static string DescribeShed(long descriptor)
        => $"out of file descriptors (descriptor {descriptor} is in the reserve kept below the process limit of {Limit}; {RaiseProcessLimit})";

    /// <summary>
    /// An accept's errno in words; for the two descriptor limits also which limit it is and what to raise:
    /// EMFILE is the process's own (ulimit -n), ENFILE the whole system's (fs.file-max).
    /// </summary>
    [System.Runtime.Versioning.SupportedOSPlatform("linux")]
    public static string DescribeAcceptError(int errno) => errno switch
    {
        // The limit now, not the reserve's: it may have been changed since (prlimit).
        Libc.EMFILE => $"{Libc.Describe(errno)}: the process limit of {Libc.DescriptorLimit()} descriptors is reached; {RaiseProcessLimit}",
        Libc.ENFILE => $"{Libc.Describe(errno)}: the system-wide limit on open files is reached; raise fs.file-max (sysctl)",
        _ => Libc.Describe(errno),
    };

    /// <summary>
    /// For a transport that is told only "too many open files" (.NET folds EMFILE and ENFILE into one
    /// <c>SocketError.TooManyOpenSockets</c> and reports it as ENFILE): asks the kernel which limit it is by
    /// opening one descriptor (an eventfd) and closing it at once. The kernel takes the process's slot
    /// first (EMFILE) and the system's file second (ENFILE), so the probe fails the way the accept did.
    /// </summary>
    public static string DescribeTooManyOpenFiles()
    {
        if (!OperatingSystem.IsLinux())
            return "too many open files (the process's or the system's descriptor limit is reached)";
        var fd = Libc.eventfd(0, Libc.EFD_CLOEXEC);
        if (fd < 0)
        {
            var errno = Libc.LastError;
            if (errno is Libc.EMFILE or Libc.ENFILE)
                return DescribeAcceptError(errno);
        }
        else
        {
            Libc.close(fd);
        }
        // One was free again when looked at: a descriptor closed in between, which the process limit
        // makes far more likely than the system's.
        return $"EMFILE or ENFILE (Too many open files): a descriptor limit was reached, most likely the process limit of {Libc.DescriptorLimit()}; {RaiseProcessLimit}";
    }
}
