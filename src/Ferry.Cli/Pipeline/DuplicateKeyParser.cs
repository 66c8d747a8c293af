using System.Globalization;
using Ferry.Hosting.Settings;
using YamlDotNet.Core;
using YamlDotNet.Core.Events;
using YamlDotNet.RepresentationModel;

namespace Ferry.Cli.Pipeline;

/// <summary>
/// Passes a file's parsing events to YamlDotNet's loader and reports every key written twice in one mapping, at its second
/// occurrence, with its full key and where the first is. The first occurrence is the one read: the later key and its whole
/// value are skipped by <see cref="ConfigFileLoader"/> (<see cref="IsDropped"/>), so the rest of the file is still read and
/// validated and all of its problems are listed in one run.
/// </summary>
/// <remarks>
/// The loader refuses a second key with "Duplicate key bind" (no path) and stops, so the later key is not removed from the
/// events but renamed: given a tag of its own that no file can hold, it no longer equals the first (YamlDotNet compares a
/// key's tag and value). Its value is still loaded so that an anchor written in it (<c>bind: &amp;b …</c>) still means
/// what it says to an alias after it; removing the value would leave that alias naming nothing, which the loader refuses
/// for the whole file. A mapping or sequence used as a key gets such a tag too: it is never a setting (it is reported as
/// an unknown key), and two equal ones would otherwise stop the loader the same way.
/// </remarks>
internal sealed class DuplicateKeyParser(IParser inner, string file, List<SettingProblem> problems) : IParser
{
    /// <summary>Unguessable, so that no tag written in a file (<c>!&lt;…&gt;</c>) equals one given here.</summary>
    private readonly string _tag = $"tag:ferry.invalid,2025:key-{Guid.NewGuid():N}-";

    private readonly Stack<Block> _open = new();

    /// <summary>Each anchor's scalar value (null: it names a mapping or sequence), so that an alias used as a key is compared by what it stands for.</summary>
    private readonly Dictionary<string, string?> _anchors = new(StringComparer.Ordinal);

    /// <summary>The start of each skipped key, with the start of its mapping: the same key node is read elsewhere through an alias of it.</summary>
    private readonly HashSet<(long Mapping, long Key)> _dropped = [];

    private int _tags;

    public ParsingEvent? Current { get; private set; }

    public bool MoveNext()
    {
        if (!inner.MoveNext())
        {
            Current = null;
            return false;
        }
        Current = Pass(inner.Current!);
        return true;
    }

    /// <summary>Whether <paramref name="key"/>, a key of <paramref name="mapping"/>, is one written again after its first occurrence.</summary>
    public bool IsDropped(YamlMappingNode mapping, YamlNode key) => _dropped.Contains((mapping.Start.Index, key.Start.Index));

    private ParsingEvent Pass(ParsingEvent node)
    {
        switch (node)
        {
            case DocumentStart:
                _anchors.Clear(); // anchors are the document's own
                return node;
            case MappingEnd or SequenceEnd:
                _open.Pop();
                return node;
            case Scalar or AnchorAlias or MappingStart or SequenceStart:
                break;
            default:
                return node;
        }
        if (node is NodeEvent { Anchor.IsEmpty: false } anchored)
            _anchors[anchored.Anchor.Value] = (node as Scalar)?.Value;
        var block = _open.Count == 0 ? null : _open.Peek();
        string path;
        if (block is { IsMapping: true, ValueNext: false })
        {
            var name = node switch
            {
                Scalar scalar => scalar.Value,
                AnchorAlias alias => _anchors.GetValueOrDefault(alias.Value.Value),
                _ => null,
            };
            if (block.Key(name, node.Start) is { } first)
            {
                var keyPath = Join(block.Path, name!);
                problems.Add(new SettingProblem(Where(node.Start), keyPath, null, $"'{name}' is given twice in this block (first at {Where(first)}); keep one"));
                _dropped.Add((block.Start.Index, node.Start.Index));
                var anchor = node is Scalar { Anchor: var own } ? own : AnchorName.Empty;
                var style = node is Scalar { Style: var written } ? written : ScalarStyle.Plain;
                // An alias key becomes a scalar of its own: the loader would otherwise add the very node the first key is.
                return new Scalar(anchor, NewTag(), name!, style, false, false, node.Start, node.End);
            }
            if (node is not (MappingStart or SequenceStart))
                return node;
            // A block used as a key is opened (and closed) like any other: its path is the key's.
            path = Join(block.Path, "?");
            node = node switch
            {
                MappingStart mapping => new MappingStart(mapping.Anchor, NewTag(), false, mapping.Style, mapping.Start, mapping.End),
                SequenceStart sequence => new SequenceStart(sequence.Anchor, NewTag(), false, sequence.Style, sequence.Start, sequence.End),
                _ => node,
            };
        }
        else
            path = block?.ValuePath() ?? "";
        if (node is MappingStart)
            _open.Push(new Block(path, node.Start, isMapping: true));
        else if (node is SequenceStart)
            _open.Push(new Block(path, node.Start, isMapping: false));
        return node;
    }

    private TagName NewTag() => new(_tag + (++_tags).ToString(CultureInfo.InvariantCulture));

    private string Where(Mark mark) => $"{file}:{mark.Line}:{mark.Column}";

    private static string Join(string path, string key) => path.Length == 0 ? key : $"{path}.{key}";

    /// <summary>An open mapping or sequence: its path and start, and the keys seen (a mapping) or the next index (a sequence).</summary>
    private sealed class Block(string path, Mark start, bool isMapping)
    {
        private readonly Dictionary<string, Mark> _keys = new(StringComparer.Ordinal);
        private string _key = "?";
        private int _index;

        public string Path { get; } = path;

        public Mark Start { get; } = start;

        public bool IsMapping { get; } = isMapping;

        /// <summary>In a mapping, whether the next node is a value (else a key).</summary>
        public bool ValueNext { get; private set; }

        /// <summary>
        /// Records a key (<paramref name="name"/> null: a mapping or sequence, which is no setting) and returns where the
        /// same key was first written, null when this is its first occurrence.
        /// </summary>
        public Mark? Key(string? name, Mark at)
        {
            ValueNext = true;
            _key = name ?? "?";
            return name is null || _keys.TryAdd(name, at) ? null : _keys[name];
        }

        /// <summary>The path of the next value: a sequence's next item, or the value of the key just read.</summary>
        public string ValuePath()
        {
            if (!IsMapping)
                return $"{Path}[{(_index++).ToString(CultureInfo.InvariantCulture)}]";
            ValueNext = false;
            return Join(Path, _key);
        }
    }
}
