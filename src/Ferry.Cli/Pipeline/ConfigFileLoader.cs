using System.Buffers;
using System.Text;
using System.Text.Unicode;
using Ferry.Hosting.Settings;
using YamlDotNet.Core;
using YamlDotNet.Core.Events;
using YamlDotNet.RepresentationModel;

namespace Ferry.Cli.Pipeline;

/// <summary>
/// Loads a YAML or JSON pipeline file (JSON is read as the YAML it also is) into a <see cref="ConfigNode"/>
/// tree that keeps every key's line and column. Uses YamlDotNet's representation model: no reflection,
/// nothing for the trimmer or Native AOT to lose.
/// </summary>
/// <remarks>
/// A pipeline file is small, so it is held to limits that no real one reaches, checked before anything recurses:
/// <see cref="MaxFileBytes"/>, <see cref="MaxDepth"/> levels of nesting, and <see cref="MaxNodes"/> values once aliases are
/// expanded. Without them a file of a few lines could overflow the stack (an alias inside its own anchor, or flow
/// brackets 50,000 deep: a stack overflow kills the process, it cannot be caught) or take gigabytes ("billion laughs":
/// aliases of aliases, each ten times the last).
/// </remarks>
internal static class ConfigFileLoader
{
    /// <summary>The largest pipeline file read: 1 MiB.</summary>
    public const int MaxFileBytes = 1 << 20;

    /// <summary>The deepest nesting of mappings and sequences.</summary>
    public const int MaxDepth = 64;

    /// <summary>The most values (scalars, mappings, sequences) a file may have once its aliases are expanded.</summary>
    public const int MaxNodes = 100_000;

    /// <summary>
    /// The file's text, read as UTF-8 (after a UTF-8 byte order mark, if any; UTF-16 and UTF-32 when their byte order
    /// mark names them), refused when over <see cref="MaxFileBytes"/>. Null when it is not valid UTF-8, with the
    /// problem in <paramref name="problems"/>.
    /// </summary>
    /// <exception cref="IOException">It cannot be read, or is too large (the message says so).</exception>
    public static string? ReadText(string file, List<SettingProblem> problems)
    {
        using var stream = new FileStream(file, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        var bytes = new byte[MaxFileBytes + 1];
        var length = 0;
        int read;
        while (length < bytes.Length && (read = stream.Read(bytes, length, bytes.Length - length)) > 0)
            length += read;
        if (length > MaxFileBytes)
            throw new IOException($"it is larger than {MaxFileBytes} bytes (1 MiB), the limit for a pipeline file");
        return Decode(file, bytes.AsSpan(0, length), problems);
    }

    /// <summary>
    /// Strict UTF-8: a byte that is not UTF-8 is refused at its line and column, never replaced. A decoder that replaces
    /// would run a Latin-1 <c>é</c> in a stage name as U+FFFD, and as the bytes EF BF BD in a <c>delimiter</c>.
    /// </summary>
    private static string? Decode(string file, ReadOnlySpan<byte> bytes, List<SettingProblem> problems)
    {
        if (Unicode(bytes) is var (encoding, name, bom))
            return DecodeStrictly(file, bytes[bom..], encoding, name, problems);
        if (bytes.StartsWith((ReadOnlySpan<byte>)[0xEF, 0xBB, 0xBF]))
            bytes = bytes[3..];
        var chars = new char[bytes.Length];
        if (Utf8.ToUtf16(bytes, chars, out var valid, out var written, replaceInvalidSequences: false) == OperationStatus.Done)
            return new string(chars, 0, written);
        // The text before the bad byte decoded; its lines and the last one's length say where the byte is.
        var before = chars.AsSpan(0, written);
        var line = before.Count('\n') + 1;
        var column = written - before.LastIndexOf('\n');
        problems.Add(new SettingProblem($"{file}:{line}:{column}", "(file)", null, $"is not valid UTF-8 (byte 0x{bytes[valid]:X2}); save the file as UTF-8"));
        return null;
    }

    /// <summary>UTF-32 or UTF-16 named by its byte order mark (UTF-32 LE's begins as UTF-16 LE's does: asked first), decoding strictly.</summary>
    private static (Encoding Encoding, string Name, int Bom)? Unicode(ReadOnlySpan<byte> bytes)
    {
        if (bytes.StartsWith((ReadOnlySpan<byte>)[0xFF, 0xFE, 0x00, 0x00]))
            return (new UTF32Encoding(bigEndian: false, byteOrderMark: false, throwOnInvalidCharacters: true), "UTF-32", 4);
        if (bytes.StartsWith((ReadOnlySpan<byte>)[0x00, 0x00, 0xFE, 0xFF]))
            return (new UTF32Encoding(bigEndian: true, byteOrderMark: false, throwOnInvalidCharacters: true), "UTF-32", 4);
        if (bytes.StartsWith((ReadOnlySpan<byte>)[0xFF, 0xFE]))
            return (new UnicodeEncoding(bigEndian: false, byteOrderMark: false, throwOnInvalidBytes: true), "UTF-16", 2);
        if (bytes.StartsWith((ReadOnlySpan<byte>)[0xFE, 0xFF]))
            return (new UnicodeEncoding(bigEndian: true, byteOrderMark: false, throwOnInvalidBytes: true), "UTF-16", 2);
        return null;
    }

    /// <summary>
    /// A UTF-16 or UTF-32 file, refused where it is not (a lone surrogate, a cut-off last character), as a UTF-8 one is: never
    /// replaced (before, a lone surrogate in a stage name ran as U+FFFD).
    /// </summary>
    private static string? DecodeStrictly(string file, ReadOnlySpan<byte> bytes, Encoding encoding, string name, List<SettingProblem> problems)
    {
        try
        {
            return encoding.GetString(bytes);
        }
        catch (DecoderFallbackException ex)
        {
            // Where: decoded one code unit (or UTF-32 character) at a time up to the first that does not decode on its own.
            var width = name == "UTF-16" ? 2 : 4;
            var (line, column, at) = (1, 1, 0);
            var decoder = encoding.GetDecoder();
            var chars = new char[4];
            for (; at + width <= bytes.Length; at += width)
            {
                int written;
                try
                {
                    written = decoder.GetChars(bytes.Slice(at, width), chars, flush: false);
                }
                catch (DecoderFallbackException)
                {
                    break;
                }
                // Columns in UTF-16 code units, as for a UTF-8 file (a high surrogate waits in the decoder for its pair).
                for (var i = 0; i < written; i++)
                    (line, column) = chars[i] == '\n' ? (line + 1, 1) : (line, column + 1);
            }
            var units = ex.BytesUnknown is { Length: > 0 } unknown ? $" (bytes {string.Join(" ", unknown.Select(b => $"0x{b:X2}"))})" : "";
            problems.Add(new SettingProblem($"{file}:{line}:{column}", "(file)", null, $"is not valid {name}{units}: its byte order mark says {name}; save the file as UTF-8"));
            return null;
        }
    }

    /// <summary>
    /// The YAML reader (YamlDotNet, 16 to 18) refuses valid YAML with an anchor on a flow mapping's value that another entry
    /// follows (<c>{name: &amp;n a, type: tcp_server}</c>): "did not find expected ',' or '}'". Said as what it is, with what
    /// works instead, when the line has an anchor before the place it stopped at.
    /// </summary>
    private static string FlowAnchorHint(string source, string message, Mark at)
    {
        if (!message.Contains("flow mapping, did not find expected ',' or '}'", StringComparison.Ordinal) || at.Line < 1)
            return "";
        var lines = source.Split('\n');
        if (at.Line > lines.Length)
            return "";
        var line = lines[at.Line - 1];
        var before = line.AsSpan(0, (int)Math.Min(Math.Max(at.Column - 1, 0), line.Length));
        return before.Contains('&')
            ? "; the YAML reader does not take an anchor (&name) on a value in { } with another entry after it: write that mapping as a block (one key per line), or put the anchored entry last"
            : "";
    }

    public static ConfigNode? Load(string file, string text, List<SettingProblem> problems)
    {
        var json = file.EndsWith(".json", StringComparison.OrdinalIgnoreCase);
        if (json && JsonComment(text) is { } comment)
        {
            problems.Add(new SettingProblem($"{file}:{comment.Line}:{comment.Column}", "(file)", null,
                "is JSON, which has no comments; remove the comment, or write the file as YAML, where comments start with '#'"));
            return null;
        }
        if (ControlCharacter(text) is { } control)
        {
            problems.Add(new SettingProblem($"{file}:{control.Line}:{control.Column}", "(file)", null,
                $"contains the control character U+{(int)control.Character:X4}, which neither YAML nor JSON allows written raw in a file; "
                + "if a value is meant to hold it, write it escaped in a double-quoted string (\"\\0\", \"\\x01\")"
                + (control is { Character: '\0', Line: 1, Column: <= 4 } ? "; a file saved as UTF-16 or UTF-32 without its byte order mark reads so: save it as UTF-8" : "")));
            return null;
        }
        // Tabs are JSON whitespace but not YAML indentation; outside strings they are safe to widen.
        var source = json ? text.Replace('\t', ' ') : text;
        var stream = new YamlStream();
        ReadOnParser parser;
        try
        {
            // The depth is checked on the parser's events first: YamlStream.Load recurses once per level.
            if (TooDeep(source, out var stuck) is { } deep)
            {
                problems.Add(new SettingProblem($"{file}:{deep.Line}:{deep.Column}", "(file)", null,
                    $"nests mappings and sequences more than {MaxDepth} levels deep, the limit for a pipeline file"));
                return null;
            }
            if (stuck is var (at, why))
            {
                problems.Add(new SettingProblem($"{file}:{Math.Max(at.Line, 1)}:{Math.Max(at.Column, 1)}", "(file)", null,
                    $"is not valid YAML or JSON: the YAML parser cannot read on after this point ({Clean(why)}); check the brackets, quotes and tags (!…) after it"));
                return null;
            }
            // A key written twice, or an alias to no anchor, is a problem, not the end of the reading: the rest of the file
            // is validated, so that every problem of the file is listed at once.
            parser = new ReadOnParser(new Parser(new StringReader(source)), file, problems);
            try
            {
                stream.Load(parser);
            }
            catch (Exception ex) when (ex is InvalidOperationException or ArgumentException)
            {
                // As in the depth pass: YamlDotNet's node loader refuses some events ("\0:\0\x1f" as JSON) with these.
                var from = parser.Current?.Start ?? Mark.Empty;
                problems.Add(new SettingProblem($"{file}:{Math.Max(from.Line, 1)}:{Math.Max(from.Column, 1)}", "(file)", null,
                    $"is not valid YAML or JSON: the YAML parser cannot read on from this point ({Clean(ex.Message)})"));
                return null;
            }
        }
        catch (YamlException ex)
        {
            var message = ex.InnerException?.Message ?? ex.Message;
            // YamlDotNet reports a tab used as indentation at the start of the mapping it is in (often 1:1): say where the tab is.
            var where = message.Contains("tab", StringComparison.OrdinalIgnoreCase) && IndentingTab(source) is { } tab
                ? $"{file}:{tab.Line}:{tab.Column}"
                : $"{file}:{ex.Start.Line}:{ex.Start.Column}";
            problems.Add(new SettingProblem(where, "(file)", null, $"is not valid YAML or JSON: {Clean(message)}{FlowAnchorHint(source, message, ex.Start)}"));
            return null;
        }
        if (stream.Documents.Count == 0)
        {
            problems.Add(new SettingProblem($"{file}:1:1", "(file)", null, "is empty; a pipeline needs at least 'stages'"));
            return null;
        }
        if (stream.Documents.Count > 1)
            problems.Add(new SettingProblem(Where(file, stream.Documents[1].RootNode), "(file)", null, "has more than one YAML document; put everything in one"));
        var expansion = new Expansion(file, problems, parser);
        try
        {
            return expansion.Convert(stream.Documents[0].RootNode, "", "", Where(file, stream.Documents[0].RootNode));
        }
        catch (ExpansionException ex)
        {
            problems.Add(ex.Problem);
            return null;
        }
    }

    /// <summary>
    /// The first character YAML's printable set leaves out (C0 controls but tab, line feed and carriage return; DEL; C1
    /// controls but NEL), with its line and column: YamlDotNet read a raw NUL into a scalar, and a stage's name or address
    /// held it unseen.
    /// </summary>
    private static (char Character, int Line, int Column)? ControlCharacter(string text)
    {
        var line = 1;
        var column = 1;
        foreach (var c in text)
        {
            if ((c < 0x20 && c is not ('\t' or '\n' or '\r')) || c == 0x7F || (c is >= '\u0080' and <= '\u009F' && c != '\u0085'))
                return (c, line, column);
            if (c == '\n')
            {
                line++;
                column = 1;
            }
            else
            {
                column++;
            }
        }
        return null;
    }

    /// <summary>
    /// Where the first mapping or sequence deeper than <see cref="MaxDepth"/> starts; null when none is. When YamlDotNet
    /// fails with something other than a YamlException, <paramref name="stuck"/> is the end of the last event it read and its message.
    /// </summary>
    /// <exception cref="YamlException">The text is not YAML.</exception>
    private static Mark? TooDeep(string text, out (Mark At, string Why)? stuck)
    {
        var parser = new Parser(new StringReader(text));
        var depth = 0;
        var reached = Mark.Empty;
        stuck = null;
        try
        {
            while (parser.MoveNext())
            {
                var current = parser.Current!;
                reached = current.End;
                switch (current)
                {
                    case MappingStart or SequenceStart when ++depth > MaxDepth:
                        return current.Start;
                    case MappingEnd or SequenceEnd:
                        depth--;
                        break;
                }
            }
        }
        catch (Exception ex) when (ex is InvalidOperationException or ArgumentException)
        {
            // YamlDotNet fails on some malformed text with these rather than a YamlException (its scanner on ": {\nr", a
            // flow mapping left open; its tag check on "!!]"); they would end ferry run with a stack trace.
            stuck = (reached, ex.Message);
        }
        return null;
    }

    /// <summary>The line and column of the first tab in a line's indentation; null when no line is indented with one.</summary>
    private static (int Line, int Column)? IndentingTab(string text)
    {
        var line = 1;
        var start = true; // still in the line's leading whitespace
        var column = 0;
        foreach (var c in text)
        {
            column++;
            if (c == '\n')
                (line, column, start) = (line + 1, 0, true);
            else if (start && c == '\t')
                return (line, column);
            else if (c != ' ')
                start = false;
        }
        return null;
    }

    /// <summary>The line and column of the first <c>//</c> or <c>/*</c> outside a JSON string; null when there is none.</summary>
    private static (int Line, int Column)? JsonComment(string text)
    {
        var (line, column, inString, escaped) = (1, 0, false, false);
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            column++;
            if (c == '\n')
            {
                (line, column) = (line + 1, 0);
                continue;
            }
            if (inString)
            {
                if (escaped)
                    escaped = false;
                else if (c == '\\')
                    escaped = true;
                else if (c == '"')
                    inString = false;
            }
            else if (c == '"')
                inString = true;
            else if (c == '/' && i + 1 < text.Length && text[i + 1] is '/' or '*')
                return (line, column);
        }
        return null;
    }

    /// <summary>
    /// The conversion of one document into <see cref="ConfigNode"/>s. Aliases are shared YamlDotNet nodes, so it counts the
    /// values it makes (<see cref="MaxNodes"/>), its depth (<see cref="MaxDepth"/>), and refuses a node met again inside itself.
    /// </summary>
    private sealed class Expansion(string file, List<SettingProblem> problems, ReadOnParser reading)
    {
        private readonly HashSet<YamlNode> _open = new(ReferenceEqualityComparer.Instance);
        private int _nodes;

        public ConfigNode Convert(YamlNode node, string key, string path, string where)
        {
            if (++_nodes > MaxNodes)
                throw Refuse(node, $"expands to more than {MaxNodes} values (aliases counted each time they are used), the limit for a pipeline file");
            if (_open.Count >= MaxDepth)
                throw Refuse(node, $"nests mappings and sequences more than {MaxDepth} levels deep once its aliases are expanded, the limit for a pipeline file");
            if (node is YamlMappingNode or YamlSequenceNode && !_open.Add(node))
                throw Refuse(node, "has an alias inside the very node its anchor names, which would repeat without end");
            try
            {
                return Make(node, key, path, where);
            }
            finally
            {
                _open.Remove(node);
            }
        }

        private ConfigNode Make(YamlNode node, string key, string path, string where)
        {
            switch (node)
            {
                case YamlMappingNode mapping:
                {
                    var result = new ConfigNode(key, path, where, ConfigNodeKind.Mapping);
                    foreach (var (k, v) in mapping.Children)
                    {
                        if (reading.IsDropped(mapping, k))
                            continue; // reported: a key's second occurrence (the first is read), or an alias to no anchor
                        var name = (k as YamlScalarNode)?.Value ?? k.ToString();
                        var keyPath = path.Length == 0 ? name : $"{path}.{name}";
                        // YamlDotNet's representation model keeps "<<" as a plain key; reading it as one would report
                        // "unknown key '<<'", which does not say what to do.
                        if (k is YamlScalarNode { Style: ScalarStyle.Plain, Value: "<<" })
                        {
                            problems.Add(new SettingProblem(Where(file, k), keyPath, null,
                                "is a YAML merge key, which pipeline files do not support; write the keys out in this block (an alias of a whole value, e.g. config: *common, works)"));
                            continue;
                        }
                        result.Add(Convert(v, name, keyPath, Where(file, k)));
                    }
                    return result;
                }
                case YamlSequenceNode sequence:
                {
                    var result = new ConfigNode(key, path, where, ConfigNodeKind.Sequence);
                    var index = 0;
                    foreach (var item in sequence.Children)
                    {
                        // An alias to no anchor (reported) is skipped; the items after it keep their place in the file.
                        // An item written as an alias is said to be where the alias is, not where its anchor is.
                        var at = reading.AliasItemAt(sequence, index) is { } alias ? $"{file}:{alias.Line}:{alias.Column}" : Where(file, item);
                        if (!reading.IsDroppedItem(sequence, item))
                            result.Add(Convert(item, index.ToString(System.Globalization.CultureInfo.InvariantCulture), $"{path}[{index}]", at));
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

        private ExpansionException Refuse(YamlNode node, string what) => new(new SettingProblem(Where(file, node), "(file)", null, what));
    }

    /// <summary>Ends a conversion that went over a limit; carries the one problem to report.</summary>
    private sealed class ExpansionException(SettingProblem problem) : Exception(problem.ToString())
    {
        public SettingProblem Problem { get; } = problem;
    }

    private static string Where(string file, YamlNode node) => $"{file}:{node.Start.Line}:{node.Start.Column}";

    private static string Clean(string message) => message.Replace("\r", " ").Replace("\n", " ");
}
