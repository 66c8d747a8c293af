namespace Ferry.Cli;

/// <summary>A command-line mistake found after parsing: printed as one line, exit code 2.</summary>
internal sealed class CliException : Exception
{
    public CliException(string message) : this([message])
    {
    }

    /// <summary>Several mistakes at once, told in one line.</summary>
    public CliException(IReadOnlyList<string> problems) : base(string.Join("; ", problems)) => Problems = problems;

    /// <summary>Each mistake on its own, so that a caller can add them to others or leave some out.</summary>
    public IReadOnlyList<string> Problems { get; }
}
