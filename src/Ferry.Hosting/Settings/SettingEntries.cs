using System.Globalization;

namespace Ferry.Hosting.Settings;

/// <summary>
/// The keys of one settings block, matched against the keys a stage type allows (snake_case, PascalCase
/// and kebab-case are the same key), each read with a typed parser that records a <see cref="SettingProblem"/>
/// naming where, key, value and what is allowed instead of throwing. A key set to null (<c>null</c>, <c>~</c>,
/// nothing after the colon, or an empty block) is the same as the key left out, for every key: its default applies
/// (seed 004 writes <c>certificate: null</c>); a required key that is null is reported as null (<see cref="Missing"/>).
/// </summary>
internal sealed class SettingEntries
{
    private readonly Dictionary<string, ISettingNode> _entries = new(StringComparer.Ordinal);
    private readonly Dictionary<string, ISettingNode> _nulls = new(StringComparer.Ordinal);
    private readonly List<SettingProblem> _problems;
    private readonly KeySpelling _spelling;

    /// <param name="nodes">The block's keys.</param>
    /// <param name="allowed">The keys the block takes (snake_case).</param>
    /// <param name="problems">Where problems go.</param>
    /// <param name="blockWhat">The block, for messages ("a tcp_client stage").</param>
    /// <param name="stageType">The stage type of the block (<c>tcp_client</c>, …), for the hint at a key of another kind of stage (<see cref="OtherKindKeys.TlsBlock"/> for the tls block); null for other blocks.</param>
    /// <param name="outer">The enclosing block's spelling, for a block whose own keys do not show one (<c>tls: {secure: true}</c>).</param>
    public SettingEntries(IEnumerable<ISettingNode> nodes, IReadOnlyList<string> allowed, List<SettingProblem> problems, string blockWhat, string? stageType = null,
        KeySpelling? outer = null)
    {
        _problems = problems;
        var list = nodes as IReadOnlyList<ISettingNode> ?? nodes.ToList();
        var keys = list.Select(n => n.Key).ToList();
        _spelling = KeySpelling.Of(keys, outer);
        var byNormal = allowed.ToDictionary(Normalize, k => k, StringComparer.Ordinal);
        foreach (var node in list)
        {
            // An option's property name whose key is not the same words is that key: a .NET user binds appsettings.json by them.
            if (!byNormal.TryGetValue(Normalize(node.Key), out var key)
                && !(KeyOfPropertyName(node.Key) is { } named && byNormal.TryGetValue(Normalize(named), out key)))
            {
                problems.Add(new SettingProblem(node.Where, node.Path, null, UnknownKey(node.Key, keys, allowed, $" in {blockWhat}", stageType)));
                continue;
            }
            if ((_entries.GetValueOrDefault(key) ?? _nulls.GetValueOrDefault(key)) is { } first)
                problems.Add(new SettingProblem(node.Where, node.Path, null, $"'{_spelling.Say(key)}' is given twice (first at {first.Where})"));
            else if (IsNull(node))
                _nulls.Add(key, node);
            else
                _entries.Add(key, node);
        }
    }

    /// <summary>
    /// "unknown key 'k' in a block (did you mean 'x'?) (allowed: …)" with the suggestion and the allowed keys spelled as the user
    /// spells <paramref name="written"/> (or its <paramref name="neighbours"/>): MaxConections is told MaxConnections, not max_connections.
    /// A key of another kind of stage (<paramref name="stageType"/>) is told where it belongs instead (<see cref="OtherKindKeys"/>).
    /// </summary>
    public static string UnknownKey(string written, IEnumerable<string> neighbours, IEnumerable<string> allowed, string inWhat, string? stageType = null)
    {
        var spelling = KeySpelling.Of(written, neighbours);
        var said = spelling.Say(allowed);
        var hint = OtherKindKeys.Hint(stageType, written, spelling) ?? Suggest.DidYouMean(written, said);
        return $"unknown key '{written}'{inWhat}{hint} (allowed: {string.Join(", ", said)})";
    }

    /// <summary><paramref name="key"/> (snake_case) as the user spells this block's keys, for a message that names it.</summary>
    public string Say(string key) => _spelling.Say(key);

    /// <summary>How the user spells this block's keys, for a message that names several, or for a block inside this one.</summary>
    public KeySpelling Spelling => _spelling;

    /// <summary>True for a node with no value: an explicit null, or an empty block.</summary>
    public static bool IsNull(ISettingNode node) => node.Value is null && !node.IsSequence && node.Children.Count == 0;

    /// <summary>
    /// Option property names (normalized) that say more than their key (<c>TcpServerStageOptions.EgressBufferBytes</c> for
    /// <c>egress_buffer</c>, whose value is a size such as 64KiB): taken as that key, in whichever block takes it.
    /// </summary>
    private static readonly (string Property, string Key)[] PropertyNames = [("egressbufferbytes", "egress_buffer"), ("readbufferbytes", "read_buffer")];

    /// <summary>The key an option's property name stands for (<c>EgressBufferBytes</c>: <c>egress_buffer</c>), or null.</summary>
    public static string? KeyOfPropertyName(string written)
    {
        var normal = Normalize(written);
        foreach (var (property, key) in PropertyNames)
            if (property == normal)
                return key;
        return null;
    }

    public static string Normalize(string key) => key.Replace("_", "").Replace("-", "").ToLowerInvariant();

    public bool Has(string key) => _entries.ContainsKey(key);

    public ISettingNode? Node(string key) => _entries.GetValueOrDefault(key);

    /// <summary>
    /// A required key that is not there: "missing key 'k' (explanation)" at the block, or "is null (explanation)" at the key
    /// when it is written as null.
    /// </summary>
    public void Missing(string key, string where, string path, string explanation)
        => _problems.Add(_nulls.TryGetValue(key, out var node)
            ? new SettingProblem(node.Where, node.Path, null, $"is null {explanation}")
            : new SettingProblem(where, path, null, $"missing key '{Say(key)}' {explanation}"));

    public void Problem(string key, string message)
    {
        var node = _entries[key];
        _problems.Add(new SettingProblem(node.Where, node.Path, node.Value, message));
    }

    public string? Text(string key)
    {
        if (!_entries.TryGetValue(key, out var node))
            return null;
        if (node.Children.Count > 0)
        {
            _problems.Add(new SettingProblem(node.Where, node.Path, null, "must be a single value, not a block or a list"));
            return null;
        }
        return node.Value ?? "";
    }

    public int? Int(string key, int min, int max, string? meaning = null) => (int?)Long(key, min, max, meaning);

    public long? Long(string key, long min, long max, string? meaning = null)
    {
        var text = Text(key);
        if (text is null)
            return null;
        if (long.TryParse(text.Trim(), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var value) && value >= min && value <= max)
            return value;
        Problem(key, $"is not allowed; use a whole number from {min} to {max}{meaning}");
        return null;
    }

    public double? Double(string key, double min, double max)
    {
        var text = Text(key);
        if (text is null)
            return null;
        if (double.TryParse(text.Trim(), NumberStyles.Float, CultureInfo.InvariantCulture, out var value) && double.IsFinite(value) && value >= min && value <= max)
            return value;
        Problem(key, $"is not allowed; use a number from {min.ToString(CultureInfo.InvariantCulture)} to {max.ToString(CultureInfo.InvariantCulture)}");
        return null;
    }

    public TimeSpan? Duration(string key)
    {
        var text = Text(key);
        if (text is null)
            return null;
        if (DurationText.TryParse(text, out var value, out var why))
            return value;
        Problem(key, why);
        return null;
    }

    public int? Size(string key, int min)
    {
        var text = Text(key);
        if (text is null)
            return null;
        if (SizeText.TryParse(text, out var value, out var why) && value >= min)
            return value;
        Problem(key, value < min && why.Length == 0 ? $"is too small; use at least {min} byte{(min == 1 ? "" : "s")}" : why);
        return null;
    }

    /// <summary>A list of words: a sequence of scalars, or one scalar with the items separated by commas.</summary>
    public IReadOnlyList<string>? Words(string key)
    {
        if (!_entries.TryGetValue(key, out var node))
            return null;
        if (node.IsSequence)
        {
            var items = new List<string>();
            foreach (var child in node.Children)
            {
                if (child.Children.Count > 0 || string.IsNullOrWhiteSpace(child.Value))
                    _problems.Add(new SettingProblem(child.Where, child.Path, child.Value, "must be a single non-empty value"));
                else
                    items.Add(child.Value.Trim());
            }
            return items;
        }
        var text = Text(key);
        return text?.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
    }

    public bool? Bool(string key)
    {
        var text = Text(key);
        if (text is null)
            return null;
        switch (text.Trim().ToLowerInvariant())
        {
            case "true" or "yes" or "on" or "1": return true;
            case "false" or "no" or "off" or "0": return false;
            default:
                Problem(key, "is not allowed; use true or false");
                return null;
        }
    }

    public T? Choice<T>(string key, params (string Word, T Value)[] choices) where T : struct
    {
        var text = Text(key);
        if (text is null)
            return null;
        foreach (var (word, value) in choices)
            if (string.Equals(word, text.Trim(), StringComparison.OrdinalIgnoreCase))
                return value;
        var words = choices.Select(c => c.Word).ToArray();
        Problem(key, $"is not allowed{Suggest.DidYouMean(text, words)} (allowed: {string.Join(", ", words)})");
        return null;
    }

    public string? Word(string key, params string[] words)
    {
        var text = Text(key);
        if (text is null)
            return null;
        foreach (var word in words)
            if (string.Equals(word, text.Trim(), StringComparison.OrdinalIgnoreCase))
                return word;
        Problem(key, $"is not allowed{Suggest.DidYouMean(text, words)} (allowed: {string.Join(", ", words)})");
        return null;
    }
}
