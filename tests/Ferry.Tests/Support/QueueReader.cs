using System.Threading.Channels;

namespace Ferry.Tests.Support;

/// <summary>A TextReader fed line by line by the test, like a terminal's standard input.</summary>
public sealed class QueueReader : TextReader
{
    private readonly Channel<string?> _lines = Channel.CreateUnbounded<string?>();
    // The line being handed out and how far: a substring per read copied the rest of a long line every time (quadratic:
    // a 2 MiB line took seconds, and under load the stdin tests' 10 s waits ran out).
    private string _rest = "";
    private int _taken;
    private bool _ended;
    private readonly TaskCompletionSource _waited = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>
    /// Completes the first time a read finds no line waiting: every line sent before it has been read (and a reader that
    /// handles each line before reading the next, as ferry connect does, has handled them).
    /// </summary>
    public Task FirstWait => _waited.Task;

    public void Send(string line) => _lines.Writer.TryWrite(line);

    /// <summary>End of input.</summary>
    public void End() => _lines.Writer.TryWrite(null);

    public override async ValueTask<string?> ReadLineAsync(CancellationToken cancellationToken)
    {
        if (!_lines.Reader.TryPeek(out _))
            _waited.TrySetResult();
        return await _lines.Reader.ReadAsync(cancellationToken);
    }

    public override Task<string?> ReadLineAsync() => ReadLineAsync(CancellationToken.None).AsTask();

    /// <summary>Characters as a terminal delivers them: each sent line followed by a newline.</summary>
    public override async ValueTask<int> ReadAsync(Memory<char> buffer, CancellationToken cancellationToken = default)
    {
        if (_taken == _rest.Length)
        {
            if (_ended)
                return 0;
            if (!_lines.Reader.TryPeek(out _))
                _waited.TrySetResult();
            var line = await _lines.Reader.ReadAsync(cancellationToken);
            if (line is null)
            {
                _ended = true;
                return 0;
            }
            _rest = line + "\n";
            _taken = 0;
        }
        var n = Math.Min(buffer.Length, _rest.Length - _taken);
        _rest.AsSpan(_taken, n).CopyTo(buffer.Span);
        _taken += n;
        return n;
    }
}
