using Ferry.Hosting.Settings;

namespace Ferry.Cli.Pipeline;

/// <summary>
/// Settings on top of the file: environment variables <c>FERRY__stages__front__config__bind=…</c> first,
/// then <c>--set stages.front.config.bind=…</c> (last wins). A path segment is a key (case, <c>_</c> and
/// <c>-</c> ignored), or a list element by index or by its <c>name</c>. Names are case-sensitive, as the
/// stages' own: <c>--set</c> takes the element with exactly that name. Environment variable names may lose
/// their case (Windows upper-cases them), so a <c>FERRY__</c> segment that names no element exactly takes the
/// one whose name matches ignoring case, when only one does. A segment that picks more than one element (an
/// index and another element's name, two names that differ only in case) is an error naming them, never the
/// first. A <c>--set</c> name may have dots (<c>stages.front.v2.config.bind</c> for the stage <c>front.v2</c>; the
/// longest name that matches wins). Each overridden value remembers which variable or flag set it, so validation errors name it.
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
            Set(root, new OverridePath(path, name[..EnvironmentPrefix.Length], "__", $"={value}", Environment: true), value, $"environment {name}", problems);
        }
        foreach (var set in sets)
        {
            var equals = set.IndexOf('=');
            if (equals <= 0)
            {
                problems.Add(new SettingProblem($"--set {set}", set, null, "is not key=value; use e.g. --set stages.front.config.bind=:9000"));
                continue;
            }
            var value = set[(equals + 1)..];
            Set(root, new OverridePath(set[..equals].Split('.'), "--set ", ".", $"={value}", Environment: false), value, $"--set {set}", problems);
        }
    }

    private static void Set(ConfigNode root, OverridePath path, string value, string where, List<SettingProblem> problems)
    {
        var key = string.Join('.', path.Segments);
        var node = root;
        var stageBlock = false; // node is one stage's block (an element of stages, or of a file that is a list of stages)
        for (var i = 0; i < path.Segments.Length; i++)
        {
            var segment = path.Segments[i].Trim();
            if (segment.Length == 0)
            {
                problems.Add(new SettingProblem(where, key, null, "has an empty key in its path"));
                return;
            }
            ConfigNode? child;
            var inStages = node.Kind == ConfigNodeKind.Sequence && node.Path is "" or "stages";
            if (stageBlock && StageKey(node, path, i) is var (written, through))
            {
                child = written;
                i = through;
            }
            else if (node.Kind == ConfigNodeKind.Sequence && DottedName(node, path, i) is var (element, last))
            {
                child = element;
                i = last;
            }
            else if (node.Kind == ConfigNodeKind.Sequence)
            {
                child = Element(node, path, i, segment, out var problem);
                if (child is null)
                {
                    // The segment is what names no element (or more than one), not the value being set.
                    problems.Add(new SettingProblem(where, key, segment, problem!));
                    return;
                }
            }
            else if (node.Find(segment) is null && Indexed(node, segment) is var (list, index))
            {
                // stages[0], as every problem line writes the path: the list, then its element by index.
                path = path with { Segments = [.. path.Segments[..i], list, index, .. path.Segments[(i + 1)..]] };
                i--;
                continue;
            }
            else if ((child = node.Find(segment)) is null)
            {
                node.MakeMapping(node.Where);
                var childPath = node.Path.Length == 0 ? segment : $"{node.Path}.{segment}";
                child = new ConfigNode(segment, childPath, where, i == path.Segments.Length - 1 ? ConfigNodeKind.Scalar : ConfigNodeKind.Mapping);
                node.Add(child);
            }
            node = child;
            stageBlock = inStages;
        }
        node.SetScalar(value, where);
    }

    /// <summary>
    /// A stage's key as the file wrote it: a stage's settings may be in its <c>config</c> block or flat beside name and type,
    /// so <c>stages.node.port</c> reaches the <c>port</c> written in <c>config</c>, and <c>stages.node.config.port</c> the one
    /// written flat. Without this the override added the key on the other side, and validation refused the stage for
    /// "'port' is given twice". Null when the key is where the path says (or nowhere: it is then added where the path says).
    /// Returns the node and the last segment it takes.
    /// </summary>
    private static (ConfigNode Node, int Last)? StageKey(ConfigNode stage, OverridePath path, int at)
    {
        var segment = path.Segments[at].Trim();
        if (stage.Find(segment) is not null)
            return null;
        if (stage.Find("config") is { Kind: ConfigNodeKind.Mapping } config && config.Find(segment) is { } inConfig)
            return (inConfig, at);
        if (SettingEntries.Normalize(segment) == "config" && at + 1 < path.Segments.Length && stage.Find("config") is null
            && stage.Find(path.Segments[at + 1].Trim()) is { } flat)
            return (flat, at + 1);
        return null;
    }

    /// <summary>
    /// The element whose name has dots (<c>front.v2</c>), written over several of a <c>--set</c> path's segments
    /// (<c>stages.front.v2.config.bind</c>), and the last segment it takes; null when none is. The longest name wins.
    /// Without this a stage named with a dot could be set by its index only, and the error said it named no element.
    /// </summary>
    private static (ConfigNode Element, int Last)? DottedName(ConfigNode list, OverridePath path, int at)
    {
        if (path.Environment)
            return null;
        for (var last = path.Segments.Length - 1; last > at; last--)
        {
            var name = string.Join('.', path.Segments[at..(last + 1)]);
            var matches = list.Nodes.Where(e => NameOf(e) == name).ToList();
            if (matches.Count == 1)
                return (matches[0], last);
        }
        return null;
    }

    /// <summary>The element of <paramref name="list"/> the segment names by index or by name; null with the reason when none, or more than one, is.</summary>
    private static ConfigNode? Element(ConfigNode list, OverridePath path, int at, string segment, out string? problem)
    {
        problem = null;
        var elements = list.Nodes;
        var byIndex = int.TryParse(segment, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var index)
            && index < elements.Count ? elements[index] : null;
        var byName = elements.Where(e => NameOf(e) == segment).ToList();
        var matches = byName.Prepend(byIndex).OfType<ConfigNode>().Distinct().ToList();
        if (matches.Count == 0 && path.Environment)
            matches = elements.Where(e => string.Equals(NameOf(e), segment, StringComparison.OrdinalIgnoreCase)).ToList();
        if (matches.Count == 1)
            return matches[0];
        var container = list.Path.Length == 0 ? "this file's list of stages" : $"'{list.Path}'";
        if (matches.Count > 1)
        {
            var indexes = matches.Select(m => m.Key).ToList();
            var which = string.Join(", ", matches.Select(m => NameOf(m) is { } name ? $"{m.Path} ({name})" : m.Path));
            problem = byIndex is not null && matches.Contains(byIndex)
                ? $"is ambiguous in {container}: it is an index and a name ({which}); pick one by its index, e.g. {path.With(at, indexes[^1])}"
                : byName.Count > 1
                    ? $"names more than one element of {container} ({which}); names must be unique; pick one by its index, e.g. {path.With(at, indexes[0])}"
                    : $"matches more than one element of {container} when case is ignored ({which}), and environment variable names may not keep their case; pick one by its index, e.g. {path.With(at, indexes[0])}";
            return null;
        }
        var names = elements.Select(NameOf).OfType<string>().ToList();
        if (list.Path.Length == 0 && at == 0 && SettingEntries.Normalize(segment) == "stages" && path.Segments.Length > 1)
        {
            problem = $"names no element of this file: it has no 'stages' key, being a list of stages (seed 003's layout); leave '{path.Segments[0]}' out of the path: {path.Without(0)}";
            return null;
        }
        // Only stages are picked by name: a route, or an element of any other list, has no name to give.
        var byNames = list.Path is "" or "stages";
        // An index out of range is told as one: "did you mean 'a'?" offered a name for a number.
        var isIndex = segment.Length > 0 && segment.All(char.IsAsciiDigit);
        problem = elements.Count == 0
            ? $"names no element of {container}: it is empty"
            : isIndex
                ? $"is past the end of {container}, which has {elements.Count} element{(elements.Count == 1 ? "" : "s")}: use an index from 0 to {elements.Count - 1}"
                    + (byNames && names.Count > 0 ? $" or a name ({string.Join(", ", names)})" : "")
            : $"names no element of {container}{(byNames ? Suggest.DidYouMean(segment, names) : "")}: use an index from 0 to {elements.Count - 1}"
                + (byNames ? $" or a name{(names.Count > 0 ? $" ({string.Join(", ", names)})" : "")}" : "");
        return null;
    }

    /// <summary>
    /// A segment written <c>list[index]</c> (<c>stages[0]</c>, as the problem lines write a path) where <paramref name="node"/>
    /// has that list: its key and the index, to be walked as two segments. Null otherwise, so that a key or a stage name
    /// with brackets in it is still taken as written.
    /// </summary>
    private static (string List, string Index)? Indexed(ConfigNode node, string segment)
    {
        var open = segment.IndexOf('[');
        if (open <= 0 || segment[^1] != ']' || segment.AsSpan(open + 1, segment.Length - open - 2) is not { Length: > 0 } index
            || index.ContainsAnyExceptInRange('0', '9'))
            return null;
        var list = segment[..open];
        return node.Find(list) is { Kind: ConfigNodeKind.Sequence } ? (list, index.ToString()) : null;
    }

    private static string? NameOf(ConfigNode element) => element.Kind == ConfigNodeKind.Mapping ? element.Find("name")?.Value : null;

    /// <summary>An override's path, and how to write another one the same way (for the hints in errors).</summary>
    private sealed record OverridePath(string[] Segments, string Prefix, string Separator, string Assignment, bool Environment)
    {
        public string With(int at, string segment) => Prefix + string.Join(Separator, Segments.Select((s, i) => i == at ? segment : s)) + Assignment;

        public string Without(int at) => Prefix + string.Join(Separator, Segments.Where((_, i) => i != at)) + Assignment;
    }
}
