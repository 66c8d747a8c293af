using System.Globalization;
using Ferry.Hosting.Settings;
using YamlDotNet.Core;
using YamlDotNet.Core.Events;
using YamlDotNet.RepresentationModel;

namespace Ferry.Cli.Pipeline;

/// <summary>
/// Passes a file's parsing events to YamlDotNet's loader past the two mistakes it stops at, each reported as a problem of
/// its own with the key it is at, so that the rest of the file is still read and validated and all of its problems are
/// listed in one run:
/// <list type="bullet">
/// <item>a key written twice in one mapping, at its second occurrence, with its full key and where the first is; the first
/// occurrence is the one read (the later key and its whole value are skipped by <see cref="ConfigFileLoader"/>,
/// <see cref="IsDropped"/>);</item>
/// <item>an alias that names no anchor written above it (<c>bind: *nope</c>); the key (or sequence item) it is the value of is
/// skipped (<see cref="IsDropped"/>, <see cref="IsDroppedItem"/>), as if not written.</item>
/// </list>
/// </summary>
/// <remarks>
/// The loader refuses a second key with "Duplicate key bind" (no path) and stops, so the later key is not removed from the
/// events but renamed: given a tag of its own that no file can hold, it no longer equals the first (YamlDotNet compares a
/// key's tag and value). Its value is still loaded so that an anchor written in it (<c>bind: &amp;b …</c>) still means
/// what it says to an alias after it; removing the value would leave that alias naming nothing, which the loader refuses
/// for the whole file. A mapping or sequence used as a key gets such a tag too: it is never a setting (it is reported as
/// an unknown key), and two equal ones would otherwise stop the loader the same way. An alias to no anchor stopped the
/// loader with "The anchor 'nope' does not exists" at 1:1 and no key; here it becomes an empty scalar, tagged the same way.
/// </remarks>
internal sealed class ReadOnParser(IParser inner, string file, List<SettingProblem> problems) : IParser
{
    /// <summary>Unguessable, so that no tag written in a file (<c>!&lt;…&gt;</c>) equals one given here.</summary>
    private readonly string _tag = $"tag:ferry.invalid,2025:key-{Guid.NewGuid():N}-";

    private readonly Stack<Block> _open = new();

    /// <summary>Each anchor's scalar value (null: it names a mapping or sequence), so that an alias used as a key is compared by what it stands for.</summary>
    private readonly Dictionary<string, string?> _anchors = new(StringComparer.Ordinal);

    /// <summary>The start of each skipped key, with the start of its mapping: the same key node is read elsewhere through an alias of it.</summary>
    private readonly HashSet<(long Mapping, long Key)> _dropped = [];

    /// <summary>The start of each skipped sequence item, with the start of its sequence.</summary>
    private readonly HashSet<(long Sequence, long Item)> _droppedItems = [];

    /// <summary>Where each sequence item written as an alias (<c>- *front</c>) is, by its sequence's start and its index: the item's node is the anchor's, and tells only where that is.</summary>
    private readonly Dictionary<(long Sequence, int Index), Mark> _aliasItems = [];

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

    /// <summary>Whether <paramref name="item"/>, an item of <paramref name="sequence"/>, is an alias that named no anchor.</summary>
    public bool IsDroppedItem(YamlSequenceNode sequence, YamlNode item) => _droppedItems.Contains((sequence.Start.Index, item.Start.Index));

    /// <summary>Where <paramref name="sequence"/>'s item <paramref name="index"/> is written, when it is an alias; null otherwise.</summary>
    public Mark? AliasItemAt(YamlSequenceNode sequence, int index) => _aliasItems.TryGetValue((sequence.Start.Index, index), out var at) ? at : null;

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
        if (node is AnchorAlias unknown && !_anchors.ContainsKey(unknown.Value.Value))
            return Unanchored(unknown, block);
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
            // An alias of a block used as a key is no setting either (reported as an unknown key): a scalar of a tag of its own, or
            // the loader, finding the very node again under a second such key, stops at "Duplicate key".
            if (node is AnchorAlias { Value.Value: var blockAnchor } && name is null)
                return new Scalar(AnchorName.Empty, NewTag(), "*" + blockAnchor, ScalarStyle.Plain, false, false, node.Start, node.End);
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
        {
            if (block is { IsMapping: false } && node is AnchorAlias)
                _aliasItems[(block.Start.Index, block.NextIndex)] = node.Start;
            path = block?.ValuePath() ?? "";
        }
        if (node is MappingStart)
            _open.Push(new Block(path, node.Start, isMapping: true));
        else if (node is SequenceStart)
            _open.Push(new Block(path, node.Start, isMapping: false));
        return node;
    }

    /// <summary>
    /// An alias to no anchor written above it, reported at its key and skipped with it: as a key, the key and its value; as a
    /// value, its key; as an item, the item. What the loader gets instead is an empty scalar of a tag of its own.
    /// </summary>
    private Scalar Unanchored(AnchorAlias alias, Block? block)
    {
        var name = alias.Value.Value;
        string path;
        if (block is { IsMapping: true, ValueNext: false })
        {
            path = block.Path;
            block.Key(null, alias.Start);
            _dropped.Add((block.Start.Index, alias.Start.Index));
        }
        else if (block is { IsMapping: true })
        {
            var key = block.KeyStart;
            path = block.ValuePath();
            _dropped.Add((block.Start.Index, key.Index));
        }
        else
        {
            path = block?.ValuePath() ?? "";
            if (block is not null)
                _droppedItems.Add((block.Start.Index, alias.Start.Index));
        }
        problems.Add(new SettingProblem(Where(alias.Start), path.Length == 0 ? "(file)" : path, "*" + name,
            $"names no anchor: an alias stands for the value of the '&{name}' written above it in this file, and there is none; "
            + $"write the value here, or put &{name} on the value it is to repeat"));
        return new Scalar(AnchorName.Empty, NewTag(), "", ScalarStyle.Plain, false, false, alias.Start, alias.End);
    }

    private TagName NewTag() => new(_tag + (++_tags).ToString(CultureInfo.InvariantCulture));

    private string Where(Mark mark) => $"{file}:{mark.Line}:{mark.Column}";

    private static string Join(string path, string key) => path.Length == 0 ? key : $"{path}.{key}";

    /// <summary>An open mapping or sequence: its path and start, and the keys seen (a mapping) or the next index (a sequence).</summary>
    private sealed class Block(string path, Mark start, bool isMapping)
    {
        private readonly Dictionary<string, Mark> _keys = new(StringComparer.Ordinal);
        private string _key = "?";
        private Mark _keyStart = Mark.Empty;
        private int _index;

        public string Path { get; } = path;

        public Mark Start { get; } = start;

        public bool IsMapping { get; } = isMapping;

        /// <summary>In a mapping, where the last key read starts.</summary>
        public Mark KeyStart => _keyStart;

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
            _keyStart = at;
            return name is null || _keys.TryAdd(name, at) ? null : _keys[name];
        }

        /// <summary>In a sequence, the index of the next item.</summary>
        public int NextIndex => _index;

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
