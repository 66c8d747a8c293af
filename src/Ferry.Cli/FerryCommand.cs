namespace Ferry.Cli;

/// <summary>The <c>ferry</c> command: dispatches to its sub-commands.</summary>
public static class FerryCommand
{
    public static Task<int> RunAsync(string[] args, TextReader stdin, TextWriter stdout, TextWriter stderr, CancellationToken cancellationToken)
    {
        stderr.WriteLine("ferry: no command yet");
        return Task.FromResult(2);
    }
}
