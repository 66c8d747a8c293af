using System.Globalization;
using Ferry.Hosting.Settings;
using YamlDotNet.Core;
using YamlDotNet.Core.Events;

namespace Ferry.Cli.Pipeline;

/// <summary>
/// Every key written twice in one mapping, found on the parser's events before the file is loaded. YamlDotNet's loader
/// stops at the first with "Duplicate key bind" and no path, so a file with two (or a duplicate and other mistakes) was
/// fixed one run at a time without being told which block the key is in; here each one is a problem at its second
/// occurrence, with its full key and where the first is.
/// </summary>
internal static class DuplicateKeys
{
    /// <summary>The duplicates of <paramref name="text"/>, which must already parse (the caller has walked its events once).</summary>
    public static List<SettingProblem> Find(string file, string text)
    {
        var problems = new List<SettingProblem>();
        var open = new Stack<Block>();
        var parser = new Parser(new StringReader(text));
        while (parser.MoveNext())
        {
            switch (parser.Current)
            {
                case MappingEnd or SequenceEnd:
                    open.Pop();
                    continue;
                case Scalar or AnchorAlias or MappingStart or SequenceStart:
                    break;
                default:
                    continue;
            }
            var node = parser.Current!;
            var path = open.Count == 0 ? "" : open.Peek().Next(node, file, problems);
            if (path is null)
                continue; // a key: its value comes next
            if (node is MappingStart)
                open.Push(new Block(path, isMapping: true));
            else if (node is SequenceStart)
                open.Push(new Block(path, isMapping: false));
        }
        return problems;
    }

    private static string Where(string file, Mark mark) => $"{file}:{mark.Line}:{mark.Column}";

    /// <summary>An open mapping or sequence: its path, and the keys seen (a mapping) or the next index (a sequence).</summary>
    private sealed class Block(string path, bool isMapping)
    {
        public string Path { get; } = path;

        public bool IsMapping { get; } = isMapping;

        private readonly Dictionary<string, Mark> _keys = new(StringComparer.Ordinal);
        private bool _valueNext;
        private string _key = "?";
        private int _index;

        /// <summary>The path of a value node in this block; null when the node is a key (recorded, and checked for a duplicate).</summary>
        public string? Next(ParsingEvent node, string file, List<SettingProblem> problems)
        {
            if (!IsMapping)
                return $"{Path}[{(_index++).ToString(CultureInfo.InvariantCulture)}]";
            if (_valueNext)
            {
                _valueNext = false;
                return Path.Length == 0 ? _key : $"{Path}.{_key}";
            }
            _valueNext = true;
            // A key that is not a plain scalar (a block as a key) is no setting; it cannot be a duplicate of one.
            _key = node is Scalar { Value: var key } ? key : "?";
            if (node is Scalar && !_keys.TryAdd(_key, node.Start))
                problems.Add(new SettingProblem(Where(file, node.Start), Path.Length == 0 ? _key : $"{Path}.{_key}", null,
                    $"'{_key}' is given twice in this block (first at {Where(file, _keys[_key])}); keep one"));
            // A block used as a key is opened (and closed) like any other: its path is the key's.
            return node is MappingStart or SequenceStart ? (Path.Length == 0 ? "?" : $"{Path}.?") : null;
        }
    }
}
