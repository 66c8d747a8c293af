namespace Ferry.Stages;

/// <summary>A stage's options are invalid. The message lists every bad option, its value and what is allowed.</summary>
public sealed class StageOptionsException(IReadOnlyList<string> problems)
    : ArgumentException(string.Join("; ", problems))
{
    public IReadOnlyList<string> Problems { get; } = problems;
}
