using System.Text;

namespace Ferry.Cli;

/// <summary>
/// Reads lines from a <see cref="TextReader"/> without letting one line take unbounded memory: a line
/// longer than <see cref="MaxChars"/> is read to its end and thrown away (reported as too long), so a
/// 32 MiB command costs a fixed buffer, not 32 MiB that stays.
/// </summary>
internal sealed class BoundedLineReader(TextReader input, int maxChars)
{
    private readonly char[] _buffer = new char[8192];
    private readonly StringBuilder _line = new();
    private int _start;
    private int _end;

    public int MaxChars { get; } = maxChars;

    /// <summary>The next line, or null at the end of input. A line over the cap comes back as <c>Line</c> null with its length in <c>TooLong</c>.</summary>
    public async ValueTask<(string? Line, long TooLong)> ReadLineAsync(CancellationToken cancellationToken)
    {
        _line.Clear();
        long length = 0;
        while (true)
        {
            if (_start == _end)
            {
                _end = await input.ReadAsync(_buffer.AsMemory(), cancellationToken).ConfigureAwait(false);
                _start = 0;
                if (_end == 0)
                    return length == 0 ? (null, 0) : Finish(length);
            }
            var span = _buffer.AsSpan(_start, _end - _start);
            var newline = span.IndexOf('\n');
            var take = newline < 0 ? span : span[..newline];
            if (length + take.Length <= MaxChars)
                _line.Append(take);
            length += take.Length;
            _start += take.Length;
            if (newline >= 0)
            {
                _start++; // the newline itself
                return Finish(length);
            }
        }
    }

    private (string? Line, long TooLong) Finish(long length)
    {
        var text = length > MaxChars ? null : _line.ToString().TrimEnd('\r');
        _line.Clear();
        if (_line.Capacity > 64 * 1024)
            _line.Capacity = 64 * 1024; // give the memory of a long line back
        return (text, text is null ? length : 0);
    }
}
