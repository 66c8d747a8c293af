using Ferry.Cli;

namespace Ferry.Tests.Support;

/// <summary>Runs a <c>ferry</c> command in process to its end, with no stdin.</summary>
public static class CliRun
{
    /// <summary>
    /// Longest a command may run: one that should refuse its arguments but starts instead is stopped here, and fails its
    /// test on what it printed, instead of hanging the run.
    /// </summary>
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(60);

    /// <summary>The exit code and every line written to stdout and stderr, with no environment overrides.</summary>
    public static Task<(int Code, List<string> Out, List<string> Err)> RunAsync(params string[] args) => RunAsync(args, new Dictionary<string, string>());

    /// <summary>The exit code and every line written to stdout and stderr, with <paramref name="environment"/> as the process's (FERRY__… overrides).</summary>
    public static async Task<(int Code, List<string> Out, List<string> Err)> RunAsync(string[] args, IReadOnlyDictionary<string, string> environment)
    {
        var stdout = new LineWriter();
        var stderr = new LineWriter();
        using var deadline = new CancellationTokenSource(Deadline);
        var code = await FerryCommand.RunAsync(args, TextReader.Null, stdout, stderr, environment, deadline.Token);
        return (code, stdout.Lines.ToList(), stderr.Lines.ToList());
    }
}
