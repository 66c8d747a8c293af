namespace Ferry.Hosting.Settings;

/// <summary>Settings failed validation; <see cref="Problems"/> lists every problem, one line each.</summary>
public sealed class SettingsException(IReadOnlyList<SettingProblem> problems)
    : Exception(string.Join(Environment.NewLine, problems))
{
    /// <summary>Every problem found, in file order.</summary>
    public IReadOnlyList<SettingProblem> Problems { get; } = problems;
}
