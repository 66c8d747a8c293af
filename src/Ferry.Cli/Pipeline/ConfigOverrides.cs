using Ferry.Hosting.Settings;

namespace Ferry.Cli.Pipeline;

/// <summary>
/// Settings on top of the file: environment variables <c>FERRY__stages__front__config__bind=…</c> first,
/// then <c>--set stages.front.config.bind=…</c> (last wins). A path segment is a key (case, <c>_</c> and
/// <c>-</c> ignored), or a list element by index or by its <c>name</c>. Each overridden value remembers
/// which variable or flag set it, so validation errors name it.
/// </summary>
internal static class ConfigOverrides
{
    public const string EnvironmentPrefix = "FERRY__";

    public static void Apply(ConfigNode root, IEnumerable<KeyValuePair<string, string>> environment, IEnumerable<string> sets, List<SettingProblem> problems)
    {
        foreach (var (name, value) in environment.OrderBy(e => e.Key, StringComparer.Ordinal))
        {
            if (!name.StartsWith(EnvironmentPrefix, StringComparison.OrdinalIgnoreCase) || name.Length == EnvironmentPrefix.Length)
                continue;
            var path = name[EnvironmentPrefix.Length..].Split("__");
            Set(root, path, value, $"environment {name}", problems);
        }
        foreach (var set in sets)
        {
            var equals = set.IndexOf('=');
            if (equals <= 0)
            {
                problems.Add(new SettingProblem($"--set {set}", set, null, "is not key=value; use e.g. --set stages.front.config.bind=:9000"));
                continue;
            }
            Set(root, set[..equals].Split('.'), set[(equals + 1)..], $"--set {set}", problems);
        }
    }

    private static void Set(ConfigNode root, string[] path, string value, string where, List<SettingProblem> problems)
    {
        var node = root;
        for (var i = 0; i < path.Length; i++)
        {
            var segment = path[i].Trim();
            if (segment.Length == 0)
            {
                problems.Add(new SettingProblem(where, string.Join('.', path), value, "has an empty key in its path"));
                return;
            }
            var child = node.Find(segment);
            if (child is null)
            {
                if (node.Kind == ConfigNodeKind.Sequence)
                {
                    var names = node.Nodes.Select(n => n.Find("name")?.Value).OfType<string>().ToList();
                    problems.Add(new SettingProblem(where, string.Join('.', path), value,
                        $"names no element of '{node.Path}': use an index from 0 to {node.Nodes.Count - 1} or a name{(names.Count > 0 ? $" ({string.Join(", ", names)})" : "")}"));
                    return;
                }
                node.MakeMapping(node.Where);
                var childPath = node.Path.Length == 0 ? segment : $"{node.Path}.{segment}";
                child = new ConfigNode(segment, childPath, where, i == path.Length - 1 ? ConfigNodeKind.Scalar : ConfigNodeKind.Mapping);
                node.Add(child);
            }
            node = child;
        }
        node.SetScalar(value, where);
    }
}
