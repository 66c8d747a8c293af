using Ferry.Stages;

namespace Ferry.Nats;

/// <summary>
/// A <see cref="NatsGatewayOptions"/> is invalid. The message lists every bad option by its property (<c>NatsGatewayOptions.Url: …</c>),
/// its value and what is allowed.
/// </summary>
/// <remarks>
/// The checks write each problem by its snake_case key (<c>option 'stats_subject': …</c>) and name another option in it by
/// <see cref="StageOptionsException.Mark"/>, and each reader gets it in its own words: a developer who set the options in code reads the C# properties
/// (<see cref="Problems"/>), as the stage options' problems do; a configuration file's reader the key as the user spells it
/// (<see cref="MarkedProblems"/>); a command line its flags (<see cref="KeyedProblems"/>).
/// </remarks>
public sealed class NatsOptionsException : ArgumentException
{
    /// <summary>Problems as written, one per invalid option.</summary>
    public NatsOptionsException(IReadOnlyList<string> problems)
        : this(problems, problems, problems)
    {
    }

    private NatsOptionsException(IReadOnlyList<string> said, IReadOnlyList<string> keyed, IReadOnlyList<string> marked)
        : base(string.Join("; ", said))
    {
        Problems = said;
        KeyedProblems = keyed;
        MarkedProblems = marked;
    }

    /// <summary>One line per invalid option: its property (<c>NatsGatewayOptions.MaxInFlight</c>), its value and what is allowed.</summary>
    public IReadOnlyList<string> Problems { get; }

    /// <summary>The problems by the options' snake_case keys (<c>option 'url': …</c>), as a command line maps them to its flags.</summary>
    internal IReadOnlyList<string> KeyedProblems { get; }

    /// <summary>The problems as the checks wrote them, other options marked by <see cref="StageOptionsException.Mark"/> for <see cref="SayKeys"/>.</summary>
    internal IReadOnlyList<string> MarkedProblems { get; }

    /// <summary>Problems written with keys (<c>option 'url': …</c>) and marked keys, said to code by the properties.</summary>
    internal static NatsOptionsException Marked(IReadOnlyList<string> problems)
        => new(problems.Select(ForCode).ToList(), problems.Select(p => SayKeys(p, key => key)).ToList(), problems);

    /// <summary>
    /// <paramref name="problem"/> with each option marked by <see cref="StageOptionsException.Mark"/> said by <paramref name="say"/>: a
    /// subject template's <c>{prefix}</c> and <c>{stage}</c>, in a value or in what is allowed, are text, never a mark.
    /// </summary>
    internal static string SayKeys(string problem, Func<string, string> say) => StageOptionsException.SayKeys(problem, say);

    /// <summary>
    /// A problem in a developer's words: <c>option 'url': …</c> as <c>NatsGatewayOptions.Url: …</c>, <c>options 'a' and 'b' are both …</c>
    /// as both properties, marked keys as properties (<c>below EgressSubject</c>). A problem of no option (the stage's name) stays.
    /// </summary>
    internal static string ForCode(string problem)
    {
        const string one = "option '", two = "options '";
        if (problem.StartsWith(one, StringComparison.Ordinal) && problem.IndexOf("': ", one.Length, StringComparison.Ordinal) is var end and > 0)
            return $"{Property(problem[one.Length..end])}: {SayKeys(problem[(end + 3)..], StageOptionsException.Property)}";
        if (problem.StartsWith(two, StringComparison.Ordinal) && problem.IndexOf("' and '", two.Length, StringComparison.Ordinal) is var join and > 0
            && problem.IndexOf("' ", join + 7, StringComparison.Ordinal) is var last and > 0)
            return $"{Property(problem[two.Length..join])} and {Property(problem[(join + 7)..last])} {SayKeys(problem[(last + 2)..], StageOptionsException.Property)}";
        return SayKeys(problem, StageOptionsException.Property);
    }

    private static string Property(string key) => $"{nameof(NatsGatewayOptions)}.{StageOptionsException.Property(key)}";
}
