namespace Ferry.Tests.Support;

/// <summary>
/// Tests that measure what one <c>ferry</c> process keeps of its executable run alone, after the parallel part of the
/// suite: the kernel gives back only file pages no other process maps, so another test's <c>ferry</c> of the same
/// binary, running at the same time, keeps them resident (the start-up pages test failed that way in a batch).
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class AloneWithTheBinaryCollection
{
    public const string Name = "alone with the ferry binary";
}
