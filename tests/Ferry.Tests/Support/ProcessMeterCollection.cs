namespace Ferry.Tests.Support;

/// <summary>
/// Tests that read exact values of in-process stages named by default (<c>ferry serve</c>'s <c>tcp_server</c>) off the
/// process-wide Ferry meter run alone, after the parallel part of the suite: every stage tracked in the process is
/// exported, and another test's <c>tcp_server</c> gives a series with the same tags (its value could be read instead).
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class ProcessMeterCollection
{
    public const string Name = "process meter";
}
