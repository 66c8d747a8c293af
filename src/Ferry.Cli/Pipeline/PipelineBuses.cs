using Ferry.Bus;
using Ferry.Hosting.Settings;

namespace Ferry.Cli.Pipeline;

/// <summary>
/// The bus types a pipeline file may name. <c>in_process</c> is built in.
/// EXTENSION POINT (NATS): the broker bus (src/Ferry.Nats, another assembly in progress) plugs in here
/// with <c>PipelineBuses.Register("nats", reader)</c>, its reader turning the <c>bus</c> block into its
/// settable options object and validating it, so <c>bus: {type: nats, url: …}</c> then works in
/// <c>ferry run</c> and <c>ferry check</c> with the same file:line:column errors. Until it is registered,
/// <c>type: nats</c> is a validation error that says so.
/// </summary>
internal static class PipelineBuses
{
    /// <summary>Reads a <c>bus</c> block (its keys other than <c>type</c>), adds problems, and returns how to create the bus (null when invalid).</summary>
    public delegate Func<IMessageBus>? BusReader(IReadOnlyList<ISettingNode> settings, List<SettingProblem> problems);

    private static readonly Dictionary<string, BusReader> Readers = new(StringComparer.Ordinal)
    {
        ["in_process"] = InProcess,
    };

    /// <summary>Bus types known to this build and those announced but not built in.</summary>
    public static IEnumerable<string> Types => Readers.Keys.Append("nats").Distinct();

    public static void Register(string type, BusReader reader) => Readers[type] = reader;

    public static BusReader? Find(string type) => Readers.GetValueOrDefault(type);

    private static Func<IMessageBus>? InProcess(IReadOnlyList<ISettingNode> settings, List<SettingProblem> problems)
    {
        foreach (var node in settings)
            problems.Add(new SettingProblem(node.Where, node.Path, null, $"unknown key '{node.Key}' for bus type in_process (it takes no settings)"));
        return () => new InProcessBus();
    }
}
