namespace Ferry.Tests.Bridge;

/// <summary>
/// Tests against a real libzmq peer run alone, after the parallel part of the suite: libzmq's
/// heartbeat and reconnect timers run on wall-clock time, and with the whole suite sharing two cores
/// a peer can miss them for reasons that have nothing to do with the bridge.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class LibzmqCollection
{
    public const string Name = "libzmq interop";
}
