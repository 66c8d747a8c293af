using System.Threading.Channels;

namespace Ferry.Tests.Support;

/// <summary>A TextReader fed line by line by the test, like a terminal's standard input.</summary>
public sealed class QueueReader : TextReader
{
    private readonly Channel<string?> _lines = Channel.CreateUnbounded<string?>();
    private string _rest = "";
    private bool _ended;

    public void Send(string line) => _lines.Writer.TryWrite(line);

    /// <summary>End of input.</summary>
    public void End() => _lines.Writer.TryWrite(null);

    public override async ValueTask<string?> ReadLineAsync(CancellationToken cancellationToken) => await _lines.Reader.ReadAsync(cancellationToken);

    public override Task<string?> ReadLineAsync() => ReadLineAsync(CancellationToken.None).AsTask();

    /// <summary>Characters as a terminal delivers them: each sent line followed by a newline.</summary>
    public override async ValueTask<int> ReadAsync(Memory<char> buffer, CancellationToken cancellationToken = default)
    {
        if (_rest.Length == 0)
        {
            if (_ended)
                return 0;
            var line = await _lines.Reader.ReadAsync(cancellationToken);
            if (line is null)
            {
                _ended = true;
                return 0;
            }
            _rest = line + "\n";
        }
        var n = Math.Min(buffer.Length, _rest.Length);
        _rest.AsSpan(0, n).CopyTo(buffer.Span);
        _rest = _rest[n..];
        return n;
    }
}
