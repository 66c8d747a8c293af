using Ferry.Cli;

namespace Ferry.Tests.Support;

/// <summary>Runs a <c>ferry</c> command in process to its end, with no stdin and no environment overrides.</summary>
public static class CliRun
{
    /// <summary>The exit code and every line written to stdout and stderr.</summary>
    public static async Task<(int Code, List<string> Out, List<string> Err)> RunAsync(params string[] args)
    {
        var stdout = new LineWriter();
        var stderr = new LineWriter();
        var code = await FerryCommand.RunAsync(args, TextReader.Null, stdout, stderr, new Dictionary<string, string>(), CancellationToken.None);
        return (code, stdout.Lines.ToList(), stderr.Lines.ToList());
    }
}
