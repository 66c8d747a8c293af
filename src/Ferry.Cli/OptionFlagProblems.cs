using System.CommandLine;
using Ferry.Stages;

namespace Ferry.Cli;

/// <summary>
/// A stage options' own problems ("option 'half_close_linger': 2h is not allowed; …") in the words of the command line
/// that set them ("--half-close-linger '2h' is not allowed; …"): a user of ferry serve typed flags, and "option
/// 'half_close_linger'" named nothing they wrote. A problem of an option that no flag of the command sets keeps its text.
/// The value is quoted as the parser's own errors quote it (<c>--max-connections '-3' is not allowed</c>): the library's
/// problems write it bare, and one command line said the two kinds of error two ways.
/// </summary>
internal static class OptionFlagProblems
{
    /// <summary>Each problem on its own, naming its flag (or <paramref name="named"/>'s word for an option an argument sets).</summary>
    public static IEnumerable<string> Each(StageOptionsException exception, Command command, IReadOnlyDictionary<string, string>? named = null)
        => exception.KeyedProblems.Select(problem => Describe(problem, command, named));

    private static string Describe(string problem, Command command, IReadOnlyDictionary<string, string>? named)
    {
        const string prefix = "option '";
        var end = problem.StartsWith(prefix, StringComparison.Ordinal) ? problem.IndexOf("': ", prefix.Length, StringComparison.Ordinal) : -1;
        if (end < 0)
            return problem;
        var key = problem[prefix.Length..end];
        var rest = problem[(end + 3)..];
        if (named is not null && named.TryGetValue(key, out var word))
            return $"{word} {Quoted(rest)}";
        var flag = "--" + key.Replace("_bytes", "", StringComparison.Ordinal).Replace('_', '-');
        return command.Options.Any(o => o.Name == flag) ? $"{flag} {Quoted(rest)}" : problem;
    }

    /// <summary>
    /// "2h is not allowed; …" as "'2h' is not allowed; …". A value the library quoted already, or words in place of a value
    /// ("null is not allowed", "CPU 5 is not allowed"), stay as they are.
    /// </summary>
    internal static string Quoted(string rest)
    {
        const string verdict = " is not allowed";
        var end = rest.IndexOf(verdict, StringComparison.Ordinal);
        if (end <= 0)
            return rest;
        var value = rest[..end];
        return value.StartsWith('\'') || value.Contains(' ', StringComparison.Ordinal) || value == "null" ? rest : $"'{value}'{rest[end..]}";
    }
}
