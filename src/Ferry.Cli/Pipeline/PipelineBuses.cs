using Ferry.Bus;
using Ferry.Hosting.Settings;

namespace Ferry.Cli.Pipeline;

/// <summary>
/// The bus types a pipeline file may name: <c>in_process</c> (the default) and <c>nats</c>, which keeps the
/// in-process bus between the file's stages and connects every server stage to NATS subjects through a
/// <see cref="Ferry.Nats.NatsGateway"/> (<see cref="NatsBusReader"/> reads its block).
/// </summary>
internal static class PipelineBuses
{
    /// <summary>Reads a <c>bus</c> block (<paramref name="settings"/>: its keys other than <c>type</c>), adds problems, and returns the bus (null when invalid).</summary>
    public delegate BusDefinition? BusReader(IReadOnlyList<ISettingNode> settings, ISettingNode? block, List<SettingProblem> problems);

    private static readonly Dictionary<string, BusReader> Readers = new(StringComparer.Ordinal)
    {
        ["in_process"] = InProcess,
        ["nats"] = Nats,
    };

    /// <summary>Bus types known to this build.</summary>
    public static IEnumerable<string> Types => Readers.Keys;

    /// <summary>The reader of <paramref name="type"/>, ignoring case as the other words of a file (<c>mode: JetStream</c>) and a Generic Host's bus type are.</summary>
    public static BusReader? Find(string type) => Readers.GetValueOrDefault(type.ToLowerInvariant());

    private static BusDefinition InProcess(IReadOnlyList<ISettingNode> settings, ISettingNode? block, List<SettingProblem> problems)
    {
        foreach (var node in settings)
            problems.Add(new SettingProblem(node.Where, node.Path, null, $"unknown key '{node.Key}' for bus type in_process (it takes no settings)"));
        return new BusDefinition("in_process", () => new InProcessBus());
    }

    private static BusDefinition? Nats(IReadOnlyList<ISettingNode> settings, ISettingNode? block, List<SettingProblem> problems)
        => NatsBusReader.Read(settings, block, problems) is { } options ? new BusDefinition("nats", () => new InProcessBus(), options) : null;
}
