namespace Ferry.Stages;

/// <summary>
/// A stage's options are invalid. The message names the stage (<c>stage 'pos': option 'bind': …</c>), so that with several
/// stages in one process it says which one, and lists every bad option, its value and what is allowed.
/// </summary>
public sealed class StageOptionsException : ArgumentException
{
    /// <summary>Problems of options that belong to no named stage (the message is the problems alone).</summary>
    /// <param name="problems">One entry per bad option: its name, its value and what is allowed.</param>
    public StageOptionsException(IReadOnlyList<string> problems)
        : base(string.Join("; ", problems)) => Problems = problems;

    /// <summary>Problems of the stage named <paramref name="stage"/>: the message begins with its name.</summary>
    internal StageOptionsException(string stage, IReadOnlyList<string> problems)
        : base(Describe(stage, problems)) => Problems = problems;

    /// <summary>One entry per bad option: its name, its value and what is allowed (without the stage's name, which the message carries).</summary>
    public IReadOnlyList<string> Problems { get; }

    /// <summary>A name that is itself the problem (empty, blank) would read as <c>stage ''</c>: then the problems speak for themselves.</summary>
    private static string Describe(string stage, IReadOnlyList<string> problems)
        => string.IsNullOrWhiteSpace(stage) ? string.Join("; ", problems) : $"stage '{stage}': {string.Join("; ", problems)}";
}
