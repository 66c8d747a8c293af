namespace Ferry.Tests.Support;

/// <summary>
/// Tests that measure the process's managed heap run alone, after the parallel part of the suite:
/// <see cref="GC.GetTotalMemory(bool)"/> is process-wide, so another test's 8 MiB frames would count.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class ProcessMemoryCollection
{
    public const string Name = "process memory";
}
