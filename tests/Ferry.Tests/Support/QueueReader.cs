using System.Threading.Channels;

namespace Ferry.Tests.Support;

/// <summary>A TextReader fed line by line by the test, like a terminal's standard input.</summary>
public sealed class QueueReader : TextReader
{
    private readonly Channel<string?> _lines = Channel.CreateUnbounded<string?>();

    public void Send(string line) => _lines.Writer.TryWrite(line);

    /// <summary>End of input.</summary>
    public void End() => _lines.Writer.TryWrite(null);

    public override async ValueTask<string?> ReadLineAsync(CancellationToken cancellationToken) => await _lines.Reader.ReadAsync(cancellationToken);

    public override Task<string?> ReadLineAsync() => ReadLineAsync(CancellationToken.None).AsTask();
}
