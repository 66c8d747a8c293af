using System.Text;

namespace Ferry.Stages;

/// <summary>
/// A stage's options are invalid. The message names the stage (<c>stage 'pos': TcpServerStageOptions.MaxConnections: …</c>), so
/// that with several stages in one process it says which one, and lists every bad option by its property, its value and what is allowed.
/// </summary>
/// <remarks>
/// The checks write each problem once, keyed by the option's snake_case key (<c>option 'max_connections': …</c>, other options named
/// in the text by <see cref="Mark"/>), and each reader gets it in its own words: a developer who set the options in code
/// reads the C# properties (<see cref="Problems"/>); a run file's or appsettings' reader puts it at the key the user wrote, in the
/// user's spelling (<see cref="MarkedProblems"/>); a command line names its flags (<see cref="KeyedProblems"/>).
/// </remarks>
public sealed class StageOptionsException : ArgumentException
{
    /// <summary>Problems of options that belong to no named stage (the message is the problems alone).</summary>
    /// <param name="problems">One entry per bad option: its name, its value and what is allowed.</param>
    public StageOptionsException(IReadOnlyList<string> problems)
        : base(string.Join("; ", problems)) => Problems = KeyedProblems = MarkedProblems = problems;

    /// <summary>Problems of the stage named <paramref name="stage"/>, said as written (no options type to name properties by).</summary>
    internal StageOptionsException(string stage, IReadOnlyList<string> problems)
        : this(stage, problems, optionsType: null)
    {
    }

    /// <summary>
    /// Problems of the stage named <paramref name="stage"/>, written with keys (<c>option 'max_connections': …</c>); the message and
    /// <see cref="Problems"/> name the properties of <paramref name="optionsType"/> (<c>TcpServerStageOptions.MaxConnections: …</c>).
    /// </summary>
    internal StageOptionsException(string stage, IReadOnlyList<string> problems, string? optionsType)
        : base(Describe(stage, ForCode(problems, optionsType)))
    {
        MarkedProblems = problems;
        KeyedProblems = problems.Select(p => SayKeys(p, key => key)).ToList();
        Problems = ForCode(problems, optionsType);
    }

    /// <summary>One entry per bad option: the property (<c>TcpServerStageOptions.MaxConnections</c>), its value and what is allowed (without the stage's name, which the message carries).</summary>
    public IReadOnlyList<string> Problems { get; }

    /// <summary>The problems by the options' snake_case keys (<c>option 'max_connections': …</c>), as a command line maps them to its flags.</summary>
    internal IReadOnlyList<string> KeyedProblems { get; }

    /// <summary>The problems as the checks wrote them: keyed, other options marked by <see cref="Mark"/> for <see cref="SayKeys"/> to spell.</summary>
    internal IReadOnlyList<string> MarkedProblems { get; }

    /// <summary>
    /// Marks <paramref name="key"/> (snake_case, dotted for a block's key: <c>tls.ca_certificate_pem</c>) in a problem's text as another
    /// option's name, for <see cref="SayKeys"/> to say in each reader's words. The mark is a pair of Unicode noncharacters (kept for a
    /// program's own use, never text a user means), so a value quoted in the same problem, braces and all (<c>'/certs/{host}/a.pem'</c>,
    /// a subject template's <c>{stage}</c>), is never read as one, wherever it stands.
    /// </summary>
    internal static string Mark(string key) => $"{MarkOpen}{key}{MarkClose}";

    private const char MarkOpen = '\uFDD0', MarkClose = '\uFDD1';

    /// <summary><paramref name="problem"/> with each key marked by <see cref="Mark"/> said by <paramref name="say"/>; all other text as written.</summary>
    internal static string SayKeys(string problem, Func<string, string> say)
    {
        if (!problem.Contains(MarkOpen, StringComparison.Ordinal))
            return problem;
        var said = new StringBuilder(problem.Length);
        var at = 0;
        while (problem.IndexOf(MarkOpen, at) is var open and >= 0 && problem.IndexOf(MarkClose, open + 1) is var close and >= 0)
        {
            said.Append(problem, at, open - at).Append(say(problem[(open + 1)..close]));
            at = close + 1;
        }
        return said.Append(problem, at, problem.Length - at).ToString();
    }

    /// <summary>
    /// <c>tls.certificate_file</c> as its property path, <c>Tls.CertificateFile</c>. A server name of <c>SniCertificates</c>
    /// (<c>tls.sni_certificates.example.com</c>) is a dictionary's key the user wrote, dots and all: <c>Tls.SniCertificates["example.com"]</c>,
    /// never capitalised part by part as if it were properties (<c>Tls.SniCertificates.Example.Com</c>).
    /// </summary>
    internal static string Property(string key)
    {
        const string sni = "sni_certificates.";
        var at = key.StartsWith(sni, StringComparison.Ordinal) ? 0 : key.IndexOf("." + sni, StringComparison.Ordinal) + 1;
        if (at <= 0 && !key.StartsWith(sni, StringComparison.Ordinal))
            return Properties(key);
        var name = key[(at + sni.Length)..];
        // A certificate's own key after the name (…example.com.certificate_file) is a property again.
        var tail = CertificateKeys.FirstOrDefault(k => name.EndsWith("." + k, StringComparison.Ordinal));
        if (tail is not null)
            name = name[..^(tail.Length + 1)];
        return $"{Properties(key[..(at + sni.Length - 1)])}[\"{name}\"]{(tail is null ? "" : "." + Properties(tail))}";
    }

    private static readonly string[] CertificateKeys = ["certificate_pem", "certificate_file", "private_key_pem", "private_key_file", "pkcs12_file", "pkcs12_password"];

    private static string Properties(string key)
        => string.Join('.', key.Split('.').Select(segment => string.Concat(segment.Split('_').Select(w => w.Length == 0 ? w : char.ToUpperInvariant(w[0]) + w[1..]))));

    /// <summary>
    /// The problems in a developer's words: <c>option 'max_connections': -1 …</c> as <c>TcpServerStageOptions.MaxConnections: -1 …</c>,
    /// <c>options 'a'/'b': …</c> as both properties, marked keys as properties. Without a type the keyed text stays.
    /// </summary>
    private static IReadOnlyList<string> ForCode(IReadOnlyList<string> problems, string? optionsType)
        => optionsType is null ? problems.Select(p => SayKeys(p, key => key)).ToList() : problems.Select(p => ForCode(p, optionsType)).ToList();

    internal static string ForCode(string problem, string optionsType)
    {
        var rest = problem;
        string? subject = null;
        foreach (var prefix in new[] { "option '", "options '" })
        {
            var end = problem.StartsWith(prefix, StringComparison.Ordinal) ? problem.IndexOf("': ", prefix.Length, StringComparison.Ordinal) : -1;
            if (end < 0)
                continue;
            subject = string.Join(" and ", problem[prefix.Length..end].Split("'/'").Select(key => $"{optionsType}.{Property(key)}"));
            rest = problem[(end + 3)..];
            break;
        }
        rest = SayKeys(rest, Property);
        return subject is null ? rest : $"{subject}: {rest}";
    }

    /// <summary>
    /// A name that is itself the problem (empty, blank, a newline in it, 10 000 characters) would read as <c>stage ''</c>, or forge
    /// a line of its own: then the problems speak for themselves (the name's own problem quotes it safely).
    /// </summary>
    private static string Describe(string stage, IReadOnlyList<string> problems)
        => Internal.StageNames.Problem(stage) is not null ? string.Join("; ", problems) : $"stage '{stage}': {string.Join("; ", problems)}";
}
