using System.Net;
using System.Text.Json;
using Ferry.Cli;
using Ferry.Tests.Support;

namespace Ferry.Tests.Cli;

/// <summary>A <c>ferry</c> command running in-process until disposed, its stdout collected as JSON lines.</summary>
public sealed class RunningCommand : IAsyncDisposable
{
    private readonly CancellationTokenSource _stop = new();

    private RunningCommand(string[] args, IReadOnlyDictionary<string, string>? environment)
    {
        Exit = Task.Run(() => environment is null
            ? FerryCommand.RunAsync(args, TextReader.Null, Out, Err, _stop.Token)
            : FerryCommand.RunAsync(args, TextReader.Null, Out, Err, environment, _stop.Token));
    }

    public LineWriter Out { get; } = new();

    public LineWriter Err { get; } = new();

    public Task<int> Exit { get; }

    public static RunningCommand Start(IReadOnlyDictionary<string, string>? environment, params string[] args) => new(args, environment);

    /// <summary>Waits for <paramref name="stage"/>'s listening line and returns its address.</summary>
    public async Task<IPEndPoint> ListeningAsync(string stage)
    {
        JsonElement line = default;
        await Poll.UntilAsync(() =>
        {
            if (Exit.IsCompleted)
                throw new InvalidOperationException($"the command exited with {Exit.Result}: {string.Join(" | ", Err.Lines)}");
            foreach (var j in Out.Json)
                if (LineWriter.Is(j, "listening") && j.GetProperty("stage").GetString() == stage) { line = j; return true; }
            return false;
        }, $"{stage}'s listening line", TimeSpan.FromSeconds(20));
        return IPEndPoint.Parse(line.GetProperty("local").GetString()!);
    }

    public async Task<int> StopAsync()
    {
        await _stop.CancelAsync();
        return await Exit.WaitAsync(TimeSpan.FromSeconds(20));
    }

    public async ValueTask DisposeAsync()
    {
        if (!Exit.IsCompleted)
            await StopAsync();
        _stop.Dispose();
    }
}
