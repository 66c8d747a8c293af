using Ferry.Transport.Interop;

namespace Ferry.Transport;

/// <summary>
/// Applies the seed's <c>thread_priority</c> and <c>thread_processor_affinity</c> to the calling
/// thread. .NET's <see cref="Thread.Priority"/> does not reach the scheduler on Linux, so the thread's
/// nice value and CPU mask are set with the system calls, which on Linux act per thread.
/// </summary>
internal static unsafe class ServiceThreadSetup
{
    /// <summary>The kernel's id of the calling thread (what <c>/proc/self/task/&lt;tid&gt;</c> is named by).</summary>
    public static int CurrentThreadOsId => OperatingSystem.IsLinux() ? Libc.gettid() : Environment.CurrentManagedThreadId;

    /// <summary>Returns the problems met, empty when everything was applied.</summary>
    public static List<string> Apply(ThreadPriority priority, IReadOnlyList<int> cpus)
    {
        var problems = new List<string>();
        if (!OperatingSystem.IsLinux())
        {
            if (priority != ThreadPriority.Normal || cpus.Count > 0)
                problems.Add("thread priority and affinity are applied on Linux only");
            return problems;
        }
        var tid = Libc.gettid();
        if (cpus.Count > 0)
        {
            const int maskBytes = 128; // 1024 CPUs, the kernel's default cpu_set_t
            var mask = stackalloc byte[maskBytes];
            new Span<byte>(mask, maskBytes).Clear();
            foreach (var cpu in cpus)
                mask[cpu / 8] |= (byte)(1 << (cpu % 8));
            if (Libc.sched_setaffinity(tid, maskBytes, mask) != 0)
                problems.Add($"thread_processor_affinity [{string.Join(',', cpus)}] could not be applied: {Libc.Describe(Libc.LastError)}");
        }
        if (priority != ThreadPriority.Normal)
        {
            var nice = NiceValue(priority);
            if (Libc.setpriority(Libc.PRIO_PROCESS, (uint)tid, nice) != 0)
                problems.Add($"thread_priority {priority} (nice {nice}) could not be applied: {Libc.Describe(Libc.LastError)}");
        }
        return problems;
    }

    public static int NiceValue(ThreadPriority priority) => priority switch
    {
        ThreadPriority.Lowest => 10,
        ThreadPriority.BelowNormal => 5,
        ThreadPriority.AboveNormal => -5,
        ThreadPriority.Highest => -10,
        _ => 0,
    };
}
