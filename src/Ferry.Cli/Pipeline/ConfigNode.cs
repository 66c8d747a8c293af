using Ferry.Hosting.Settings;

namespace Ferry.Cli.Pipeline;

/// <summary>
/// A node of a pipeline file: a scalar, a mapping or a sequence, with where it was written
/// (<c>file:line:column</c> of its key, or the environment variable / <c>--set</c> that put it there).
/// Overrides change the tree in place before it is read.
/// </summary>
internal sealed class ConfigNode : ISettingNode
{
    private readonly List<ConfigNode> _children = [];

    public ConfigNode(string key, string path, string where, ConfigNodeKind kind, string? value = null)
    {
        Key = key;
        Path = path;
        Where = where;
        Kind = kind;
        Value = value;
    }

    public string Key { get; }

    public string Path { get; }

    public string Where { get; private set; }

    public ConfigNodeKind Kind { get; private set; }

    public string? Value { get; private set; }

    public bool IsSequence => Kind == ConfigNodeKind.Sequence;

    public IReadOnlyList<ISettingNode> Children => _children;

    public IReadOnlyList<ConfigNode> Nodes => _children;

    public void Add(ConfigNode child) => _children.Add(child);

    /// <summary>Replaces this node's content with a scalar (an override).</summary>
    public void SetScalar(string value, string where)
    {
        _children.Clear();
        Kind = ConfigNodeKind.Scalar;
        Value = value;
        Where = where;
    }

    /// <summary>Turns a scalar (or null) into an empty mapping so an override can add keys below it.</summary>
    public void MakeMapping(string where)
    {
        if (Kind == ConfigNodeKind.Mapping)
            return;
        _children.Clear();
        Kind = ConfigNodeKind.Mapping;
        Value = null;
        Where = where;
    }

    /// <summary>The child with this key (case, <c>_</c> and <c>-</c> ignored; in a sequence, the element with this index), or null.</summary>
    /// <remarks>Overrides pick a sequence's elements by name too, with their own rules (<see cref="ConfigOverrides"/>).</remarks>
    public ConfigNode? Find(string key)
    {
        var normal = SettingEntries.Normalize(key);
        return _children.FirstOrDefault(child => SettingEntries.Normalize(child.Key) == normal);
    }
}

/// <summary>What a <see cref="ConfigNode"/> holds.</summary>
internal enum ConfigNodeKind
{
    Scalar,
    Mapping,
    Sequence,
}
