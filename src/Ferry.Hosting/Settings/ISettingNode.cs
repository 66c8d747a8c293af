namespace Ferry.Hosting.Settings;

/// <summary>
/// One node of a settings tree, wherever it came from (a YAML or JSON file with line and column, or an
/// <c>IConfiguration</c> section), so one reader validates both the same way.
/// </summary>
internal interface ISettingNode
{
    /// <summary>The node's own key (a sequence element's index as text).</summary>
    string Key { get; }

    /// <summary>The full key for messages, e.g. <c>stages[0].config.bind</c>.</summary>
    string Path { get; }

    /// <summary>Where the node was written, e.g. <c>ferry.yaml:7:13</c> or <c>configuration 'Ferry:Stages:front:Bind'</c>.</summary>
    string Where { get; }

    /// <summary>The scalar's text; null for a mapping, a sequence or an explicit null.</summary>
    string? Value { get; }

    /// <summary>True for a sequence (its children's keys are indexes).</summary>
    bool IsSequence { get; }

    /// <summary>The children of a mapping or a sequence; empty for a scalar.</summary>
    IReadOnlyList<ISettingNode> Children { get; }
}
