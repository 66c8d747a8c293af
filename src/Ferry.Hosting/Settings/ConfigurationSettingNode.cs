using Microsoft.Extensions.Configuration;

namespace Ferry.Hosting.Settings;

/// <summary>An <see cref="IConfigurationSection"/> seen as a settings node (configuration has no lines: it names its path).</summary>
internal sealed class ConfigurationSettingNode : ISettingNode
{
    private readonly IConfigurationSection _section;
    private IReadOnlyList<ISettingNode>? _children;

    /// <summary>Wraps <paramref name="section"/>; <paramref name="path"/> is the key shown in messages.</summary>
    public ConfigurationSettingNode(IConfigurationSection section, string? path = null)
    {
        _section = section;
        Path = path ?? section.Key;
    }

    /// <inheritdoc />
    public string Key => _section.Key;

    /// <inheritdoc />
    public string Path { get; }

    /// <inheritdoc />
    public string Where => $"configuration '{_section.Path}'";

    /// <inheritdoc />
    public string? Value => _section.Value;

    /// <inheritdoc />
    public bool IsSequence => Children.Count > 0 && Children.All(c => int.TryParse(c.Key, out _));

    /// <inheritdoc />
    public IReadOnlyList<ISettingNode> Children => _children ??= _section.GetChildren()
        .Select(c => (ISettingNode)new ConfigurationSettingNode(c, Path.Length == 0 ? c.Key : $"{Path}.{c.Key}"))
        .ToList();
}
