namespace Ferry.Tests.Support;

/// <summary>
/// Tests that read exact values off the process-wide Ferry meter for in-process stages whose names other tests use too
/// (<c>ferry serve</c>'s default <c>tcp_server</c>, an example's <c>front</c>) run alone, after the parallel part of the
/// suite: every stage tracked in the process is exported (each <c>ferry run</c>, <c>serve</c> and <c>connect</c> run in the
/// test process tracks its stages), and another test's stage of that name gives a series with the same tags, whose value
/// could be read instead. A test that names its stages uniquely (a GUID in the name) reads its own series and need not.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class ProcessMeterCollection
{
    public const string Name = "process meter";
}
