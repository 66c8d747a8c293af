using Ferry.Hosting.Settings;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace Ferry.Cli.Pipeline;

/// <summary>
/// Loads a YAML or JSON pipeline file (JSON is read as the YAML it also is) into a <see cref="ConfigNode"/>
/// tree that keeps every key's line and column. Uses YamlDotNet's representation model: no reflection,
/// nothing for the trimmer or Native AOT to lose.
/// </summary>
internal static class ConfigFileLoader
{
    public static ConfigNode? Load(string file, string text, List<SettingProblem> problems)
    {
        var stream = new YamlStream();
        try
        {
            // Tabs are JSON whitespace but not YAML indentation; outside strings they are safe to widen.
            stream.Load(new StringReader(file.EndsWith(".json", StringComparison.OrdinalIgnoreCase) ? text.Replace('\t', ' ') : text));
        }
        catch (YamlException ex)
        {
            var message = ex.InnerException?.Message ?? ex.Message;
            problems.Add(new SettingProblem($"{file}:{ex.Start.Line}:{ex.Start.Column}", "(file)", null, $"is not valid YAML or JSON: {Clean(message)}"));
            return null;
        }
        if (stream.Documents.Count == 0)
        {
            problems.Add(new SettingProblem($"{file}:1:1", "(file)", null, "is empty; a pipeline needs at least 'stages'"));
            return null;
        }
        if (stream.Documents.Count > 1)
            problems.Add(new SettingProblem(Where(file, stream.Documents[1].RootNode), "(file)", null, "has more than one YAML document; put everything in one"));
        return Convert(file, stream.Documents[0].RootNode, "", "", Where(file, stream.Documents[0].RootNode));
    }

    private static ConfigNode Convert(string file, YamlNode node, string key, string path, string where)
    {
        switch (node)
        {
            case YamlMappingNode mapping:
            {
                var result = new ConfigNode(key, path, where, ConfigNodeKind.Mapping);
                foreach (var (k, v) in mapping.Children)
                {
                    var name = (k as YamlScalarNode)?.Value ?? k.ToString();
                    result.Add(Convert(file, v, name, path.Length == 0 ? name : $"{path}.{name}", Where(file, k)));
                }
                return result;
            }
            case YamlSequenceNode sequence:
            {
                var result = new ConfigNode(key, path, where, ConfigNodeKind.Sequence);
                var index = 0;
                foreach (var item in sequence.Children)
                {
                    result.Add(Convert(file, item, index.ToString(System.Globalization.CultureInfo.InvariantCulture), $"{path}[{index}]", Where(file, item)));
                    index++;
                }
                return result;
            }
            case YamlScalarNode scalar:
                var isNull = scalar.Style == ScalarStyle.Plain && scalar.Value is null or "" or "~" or "null" or "Null" or "NULL";
                return new ConfigNode(key, path, where, ConfigNodeKind.Scalar, isNull ? null : scalar.Value);
            default:
                return new ConfigNode(key, path, where, ConfigNodeKind.Scalar, node.ToString());
        }
    }

    private static string Where(string file, YamlNode node) => $"{file}:{node.Start.Line}:{node.Start.Column}";

    private static string Clean(string message) => message.Replace("\r", " ").Replace("\n", " ");
}
