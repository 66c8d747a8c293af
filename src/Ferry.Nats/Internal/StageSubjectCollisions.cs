using System.Text;
using System.Text.RegularExpressions;
using Ferry.Stages;

namespace Ferry.Nats.Internal;

/// <summary>
/// Where a stage's name would make its subjects another stage's, with the same subject templates: the default control subject
/// <c>{prefix}.ctrl.{stage}</c> puts the word <c>ctrl</c> where the other subjects put the stage's name, so a stage named
/// <c>ctrl</c> publishes its packets to <c>ferry.ctrl.in</c>, the control subject of a stage named <c>in</c>: a TCP client of the
/// one could send kill commands to the other, and the other's commands would be sent to the one's clients as egress.
/// </summary>
/// <remarks>
/// Two subjects meet when they are equal, or when one is below the egress subject (the gateways take <c>.&lt;instance&gt;</c> and
/// <c>.any</c> below it, and in JetStream mode the egress stream takes every subject below it). Of the two names that would meet,
/// the one whose name stands earlier in the subject is refused (with the defaults: <c>ctrl</c>, which stands where the control
/// subject has its fixed word); the other is then safe, so a stage named <c>in</c> keeps running. A template without
/// <c>{stage}</c> is shared by every stage as written: not a name's doing, so not said here; the stages actually on one bus are
/// compared pairwise, whatever their templates, by <see cref="BusSubjectCollisions"/>.
/// </remarks>
internal static class StageSubjectCollisions
{
    /// <summary>A stage name: one subject token (<see cref="SubjectNames.IsToken"/>).</summary>
    private const string Name = "[A-Za-z0-9_-]+";

    /// <summary>The problems of <paramref name="stage"/> (a valid token) with <paramref name="templates"/> (valid, by key), egress first.</summary>
    public static IEnumerable<string> Of(string stage, string prefix, IReadOnlyList<(string Key, string Template)> templates, string egressKey)
    {
        foreach (var (mine, myTemplate) in templates)
        {
            var myTokens = Resolve(myTemplate, prefix);
            var myAt = StageToken(myTokens);
            if (myAt < 0)
                continue;
            var subject = string.Join('.', myTokens).Replace("{stage}", stage, StringComparison.Ordinal);
            foreach (var (theirs, theirTemplate) in templates)
            {
                var theirTokens = Resolve(theirTemplate, prefix);
                var theirAt = StageToken(theirTokens);
                // A tie refuses both: it cannot be told which name is the intruder.
                if (theirAt < 0 || myAt > theirAt)
                    continue;
                if (Match(theirTokens, subject, below: false) is { } same && same != stage)
                    yield return Said(stage, mine, subject, $"is also the {Mark(theirs)} of a stage named '{same}'", theirs, theirTemplate);
                else if (theirs == egressKey && Match(theirTokens, subject, below: true) is { } above && above != stage)
                    yield return Said(stage, mine, subject, $"is below the {Mark(theirs)} '{Resolved(theirTokens, above)}' of a stage named '{above}'", theirs, theirTemplate);
                else if (mine == egressKey && theirTokens.Length > myTokens.Length
                    && Match(theirTokens[..myTokens.Length], subject, below: false) is { } under && under != stage)
                {
                    var other = under.Length > 0 ? under : stage + "x";
                    yield return Said(stage, mine, subject, $"has below it the {Mark(theirs)} '{Resolved(theirTokens, other)}' of "
                        + (under.Length > 0 ? $"a stage named '{under}'" : "every other stage"), theirs, theirTemplate);
                }
            }
        }
    }

    private static string Said(string stage, string mine, string subject, string meeting, string theirs, string theirTemplate)
        => $"stage name '{stage}' is not allowed with these subjects: its {Mark(mine)} '{subject}' {meeting}, so each would take the other's "
            + $"messages; '{stage}' stands where {Mark(theirs)} '{theirTemplate}' has a fixed word: give the stage another name, or change {Mark(theirs)}";

    private static string Mark(string key) => StageOptionsException.Mark(key);

    private static string[] Resolve(string template, string prefix) => template.Replace("{prefix}", prefix, StringComparison.Ordinal).Split('.');

    private static int StageToken(string[] tokens) => Array.FindIndex(tokens, t => t.Contains("{stage}", StringComparison.Ordinal));

    private static string Resolved(string[] tokens, string stage) => string.Join('.', tokens).Replace("{stage}", stage, StringComparison.Ordinal);

    /// <summary>
    /// The stage name for which <paramref name="tokens"/> give <paramref name="subject"/> (or, <paramref name="below"/>, a subject
    /// above it); "" when they do without holding the name; null when they do not.
    /// </summary>
    private static string? Match(string[] tokens, string subject, bool below)
    {
        var pattern = new StringBuilder("^");
        var named = false;
        for (var i = 0; i < tokens.Length; i++)
        {
            if (i > 0)
                pattern.Append(@"\.");
            var parts = tokens[i].Split("{stage}");
            for (var j = 0; j < parts.Length; j++)
            {
                if (j > 0)
                {
                    pattern.Append(named ? @"\k<stage>" : $"(?<stage>{Name})");
                    named = true;
                }
                pattern.Append(Regex.Escape(parts[j]));
            }
        }
        pattern.Append(below ? @"\..+$" : "$");
        var match = Regex.Match(subject, pattern.ToString(), RegexOptions.CultureInvariant);
        return !match.Success ? null : named ? match.Groups["stage"].Value : "";
    }
}
