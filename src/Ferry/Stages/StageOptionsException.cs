namespace Ferry.Stages;

/// <summary>A stage's options are invalid. The message lists every bad option, its value and what is allowed.</summary>
public sealed class StageOptionsException(IReadOnlyList<string> problems)
    : ArgumentException(string.Join("; ", problems))
{
    /// <summary>One entry per bad option: its name, its value and what is allowed.</summary>
    public IReadOnlyList<string> Problems { get; } = problems;
}
