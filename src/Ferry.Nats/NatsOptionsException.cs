using Ferry.Stages;

namespace Ferry.Nats;

/// <summary>A <see cref="NatsGatewayOptions"/> is invalid. The message lists every bad option, its value and what is allowed.</summary>
/// <remarks>
/// The checks write each problem by its snake_case key (<c>option 'stats_subject': …</c>) and name another option in it as
/// <c>{egress_subject}</c>, so that a configuration file's reader can say that key as the user spells it (<see cref="MarkedProblems"/>);
/// <see cref="Problems"/> names it by its key.
/// </remarks>
public sealed class NatsOptionsException : ArgumentException
{
    /// <summary>Problems as written, one per invalid option.</summary>
    public NatsOptionsException(IReadOnlyList<string> problems)
        : this(problems, marked: false)
    {
    }

    private NatsOptionsException(IReadOnlyList<string> problems, bool marked)
        : this(marked ? problems.Select(p => SayKeys(p, key => key)).ToList() : problems, problems)
    {
    }

    private NatsOptionsException(IReadOnlyList<string> said, IReadOnlyList<string> marked)
        : base(string.Join("; ", said))
    {
        Problems = said;
        MarkedProblems = marked;
    }

    /// <summary>One line per invalid option.</summary>
    public IReadOnlyList<string> Problems { get; }

    /// <summary>The problems as the checks wrote them, other options marked <c>{key}</c> for <see cref="SayKeys"/>.</summary>
    internal IReadOnlyList<string> MarkedProblems { get; }

    /// <summary>Problems written with marked keys (<c>{egress_subject}</c>).</summary>
    internal static NatsOptionsException Marked(IReadOnlyList<string> problems) => new(problems, marked: true);

    /// <summary>
    /// <paramref name="problem"/> with each marked option said by <paramref name="say"/>; only the options' own keys are marks: a
    /// subject template's <c>{prefix}</c> and <c>{stage}</c>, in a value or in what is allowed, stay as written.
    /// </summary>
    internal static string SayKeys(string problem, Func<string, string> say)
        => StageOptionsException.SayKeys(problem, key => NatsGatewayOptions.Keys.Contains(key) ? say(key) : $"{{{key}}}");
}
